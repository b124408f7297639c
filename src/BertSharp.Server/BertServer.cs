using BertSharp.Inference;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace BertSharp.Server;

/// <summary>
/// The model server as an app of its own (what <c>bertsharp serve</c> runs): a web host listening on
/// <see cref="ServerOptions.Urls"/> with <see cref="BertSharpServiceCollectionExtensions.AddBertSharp"/>'s services
/// and <see cref="BertSharpEndpointRouteBuilderExtensions.MapBertSharp"/>'s endpoints at the root.
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
        // A start that fails (port in use, bad address) throws to the caller, which reports it in one
        // line; the host would also log it with a stack trace first.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None);
        BertSharpServiceCollectionExtensions.Register(builder.Services, options with { Pipeline = pipeline });

        builder.Services.AddRequestDecompression();

        var app = builder.Build();
        // gzip, br and deflate bodies arrive decoded (within the body limit, which counts decoded bytes); JsonBody refuses others.
        app.UseRequestDecompression();
        // The limiter before authentication: a missing or wrong key counts against the client's bucket too, so keys
        // cannot be tried at full speed (after it, 30 wrong keys were 30 401s and never a 429). Both after routing,
        // which they read the endpoint's policies from.
        app.UseRouting();
        if (options.RateLimit > 0) app.UseRateLimiter();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapBertSharp();
        return app;
    }
}
