using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace BertSharp.Server;

/// <summary>
/// What a load balancer or Kubernetes asks: /health/live (the process answers) and /health/ready
/// (send traffic here): ready only after one forward pass has run (the first one pays for JIT and
/// buffers, which a user's request should not), and no longer ready once shutdown begins, so a
/// balancer stops sending before the server stops accepting.
/// </summary>
internal sealed class Health
{
    private volatile string _status = "starting";

    public bool Ready => _status == "ready";

    public string Status => _status;

    public string? Error { get; private set; }

    public void MarkReady()
    {
        // A shutdown that began during warm-up stays a shutdown.
        Interlocked.CompareExchange(ref _status, "ready", "starting");
    }

    public void MarkFailed(string error)
    {
        Error = error;
        _status = "failed";
    }

    public void MarkDraining() => _status = "draining";
}

/// <summary>
/// The check behind /health/ready: the model has run its warm-up pass, shutdown has not begun, and the
/// queues are not saturated (a request of the largest size would no longer fit), so that a balancer sends
/// the next request to a replica that can take it.
/// </summary>
internal sealed class ModelReadyCheck(Health health, ServerMetrics metrics, ServerOptions options) : IHealthCheck
{
    public const string Name = "bertsharp";

    /// <summary>The tag /health/ready selects its checks by.</summary>
    public const string Tag = "bertsharp-ready";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!health.Ready)
        {
            var data = health.Error is { } error ? new Dictionary<string, object> { ["error"] = error } : null;
            return Task.FromResult(HealthCheckResult.Unhealthy(health.Status, data: data));
        }
        long waiting = metrics.QueueLength();
        return Task.FromResult(waiting > options.QueueLimit - options.MaxTextsPerRequest
            ? HealthCheckResult.Unhealthy("saturated", data: new Dictionary<string, object> { ["waiting_texts"] = waiting })
            : HealthCheckResult.Healthy("ready"));
    }

    /// <summary>The body of /health/ready: <c>{"status": "ready" | "starting" | "draining" | "failed" | "saturated", "error"?}</c>.</summary>
    public static Task WriteReadyAsync(HttpContext context, HealthReport report) =>
        JsonResponse.WriteAsync(context, context.Response.StatusCode, report.Entries.TryGetValue(Name, out var entry) ? entry : default, static (w, e) =>
        {
            w.WriteStartObject();
            w.WriteString("status", e.Description ?? e.Status.ToString().ToLowerInvariant());
            if (e.Data?.TryGetValue("error", out var error) == true) w.WriteString("error", error.ToString());
            w.WriteEndObject();
        });

    /// <summary>The body of /health/live, which runs no check: the process answers.</summary>
    public static Task WriteLiveAsync(HttpContext context, HealthReport report) =>
        JsonResponse.WriteAsync(context, context.Response.StatusCode, report, static (w, _) =>
        {
            w.WriteStartObject();
            w.WriteString("status", "live");
            w.WriteEndObject();
        });
}

/// <summary>
/// Warms the model once the server listens, and on shutdown reports not-ready for
/// <see cref="ServerOptions.DrainDelay"/> while still serving, before the web server stops accepting
/// and finishes the requests in flight (within <see cref="ServerOptions.ShutdownTimeout"/>).
/// </summary>
internal sealed class HealthLifecycle(Health health, ServedPipeline served, ModelGate gate, ServerOptions options, ILogger<HealthLifecycle> logger)
    : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken)
    {
        // Not awaited: the server answers /health/live (and says "starting") while the model warms up.
        _ = Task.Run(async () =>
        {
            try
            {
                // The model's forward pass is what every endpoint runs, on either runtime; its first pass is the slow one.
                await gate.RunExclusiveAsync(() =>
                {
                    served.Pipeline.WarmUp();
                    return true;
                });
                health.MarkReady();
            }
            catch (Exception e)
            {
                logger.LogError(e, "warm-up forward pass failed; /health/ready stays 503");
                health.MarkFailed(e.Message);
            }
        }, CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        health.MarkDraining();
        // The shutdown timeout cancels the token; stopping then goes on rather than failing.
        await Task.Delay(options.DrainDelay, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
