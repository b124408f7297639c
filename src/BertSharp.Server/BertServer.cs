using BertSharp.Inference;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace BertSharp.Server;

/// <summary>
/// The HTTP service over a pipeline: its task's endpoints (a <see cref="TextClassifier"/>: POST /v1/classify), and
/// for every task POST /v1/embed, /v1/tokenize, /v1/attention; GET /v1/model, /health, /metrics (Prometheus) and
/// the web page at /. Single-text requests that arrive together run in one batch. /health/live and
/// /health/ready are for load balancers and Kubernetes probes.
/// </summary>
public static class BertServer
{
    /// <summary>Builds the server; start it with <c>StartAsync</c>/<c>RunAsync</c>. Stopping drains the requests in flight.</summary>
    /// <param name="pipeline">The model to serve; the caller keeps ownership (dispose it after the server).</param>
    /// <param name="options">Addresses, batching and limits.</param>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public static WebApplication Build(Pipeline pipeline, ServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ApplicationName = typeof(BertServer).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.WebHost.UseUrls(options.Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = JsonBody.TransportLimit(options.MaxBodyBytes);
            k.AddServerHeader = false;
        });
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = options.ShutdownTimeout);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);

        var metrics = new ServerMetrics();
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(metrics);
        // Created (and so disposed) by the container: disposal comes after the web server has drained.
        builder.Services.AddSingleton<ModelGate>();
        builder.Services.AddSingleton<RequestPipeline>();
        var health = new Health();
        builder.Services.AddSingleton(health);
        builder.Services.AddHostedService(services => new HealthLifecycle(health, pipeline, services.GetRequiredService<ModelGate>(), options,
            services.GetRequiredService<ILogger<HealthLifecycle>>()));
        var app = builder.Build();

        var state = new ServerState(pipeline, options, app.Services.GetRequiredService<ModelGate>(), metrics);
        var requests = app.Services.GetRequiredService<RequestPipeline>();
        app.Use(requests.InvokeAsync);
        app.UseStatusCodePages(c => requests.StatusCodePageAsync(c.HttpContext));
        app.UseRouting();

        TaskEndpoints.Map(app, state);
        app.MapPost("/v1/embed", new EmbedEndpoint(state).HandleAsync);
        app.MapPost("/v1/tokenize", new TokenizeEndpoint(state).HandleAsync);
        app.MapPost("/v1/attention", new AttentionEndpoint(state).HandleAsync);
        app.MapGet("/v1/model", new ModelEndpoint(state).HandleAsync);
        app.MapGet("/health", context => JsonResponse.WriteAsync(context, StatusCodes.Status200OK, state, static (w, s) =>
        {
            w.WriteStartObject();
            w.WriteString("status", "ok");
            w.WriteString("model", s.Options.ModelName);
            w.WriteString("runtime", s.Pipeline.Runtime.ToString().ToLowerInvariant());
            w.WriteEndObject();
        }));
        app.MapGet("/health/live", health.LiveAsync);
        app.MapGet("/health/ready", health.ReadyAsync);
        app.MapGet("/metrics", context =>
        {
            context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            return context.Response.WriteAsync(metrics.Render());
        });
        var page = new WebPage();
        foreach (var path in page.Paths) app.MapGet(path, page.HandleAsync);
        return app;
    }
}
