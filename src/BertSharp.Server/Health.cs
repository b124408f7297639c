using BertSharp.Inference;
using Microsoft.AspNetCore.Http;
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

    public Task LiveAsync(HttpContext context) => JsonResponse.WriteAsync(context, StatusCodes.Status200OK, this, static (w, _) =>
    {
        w.WriteStartObject();
        w.WriteString("status", "live");
        w.WriteEndObject();
    });

    public Task ReadyAsync(HttpContext context)
    {
        context.Response.Headers.CacheControl = "no-store";
        return JsonResponse.WriteAsync(context, Ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable, this, static (w, h) =>
        {
            w.WriteStartObject();
            w.WriteString("status", h.Status);
            if (h.Error is { } e) w.WriteString("error", e);
            w.WriteEndObject();
        });
    }
}

/// <summary>
/// Warms the model once the server listens, and on shutdown reports not-ready for
/// <see cref="ServerOptions.DrainDelay"/> while still serving, before the web server stops accepting
/// and finishes the requests in flight (within <see cref="ServerOptions.ShutdownTimeout"/>).
/// </summary>
internal sealed class HealthLifecycle(Health health, Pipeline pipeline, ModelGate gate, ServerOptions options, ILogger<HealthLifecycle> logger)
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
                // The encoder is what every task runs; its first pass is the slow one.
                await gate.RunExclusiveAsync(() => pipeline.Embed(["warm up"]));
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
