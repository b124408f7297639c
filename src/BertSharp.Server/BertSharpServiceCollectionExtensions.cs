using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;

namespace BertSharp.Server;

/// <summary>Registers BertSharp's model server in an ASP.NET app; <see cref="BertSharpEndpointRouteBuilderExtensions.MapBertSharp"/> maps its endpoints.</summary>
public static class BertSharpServiceCollectionExtensions
{
    /// <summary>
    /// Adds the model server's services: the model (<see cref="ServerOptions.Pipeline"/> or <see cref="ServerOptions.Model"/>),
    /// dynamic batching, the warm-up and drain of /health/ready (ASP.NET health checks), RFC 9457 problem
    /// answers (ASP.NET's problem-details service), the API key as an authentication scheme and policy when
    /// <see cref="ServerOptions.ApiKey"/> is set, a per-client rate-limiter policy when
    /// <see cref="ServerOptions.RateLimit"/> is set (the app calls <c>app.UseRateLimiter()</c>), and the
    /// <c>BertSharp.Server</c> meter exported by OpenTelemetry's Prometheus exporter.
    /// </summary>
    /// <param name="services">The app's services.</param>
    /// <param name="configure">Sets the model and the limits; called once, here.</param>
    /// <returns><paramref name="services"/>.</returns>
    /// <exception cref="ArgumentException">No model was given, or a limit is out of range (the message names it).</exception>
    public static IServiceCollection AddBertSharp(this IServiceCollection services, Action<ServerOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        var options = new ServerOptions();
        configure(options);
        return Register(services, options);
    }

    /// <summary>Registers the services for options already set (<see cref="BertServer.Build"/> copies its own).</summary>
    internal static IServiceCollection Register(IServiceCollection services, ServerOptions options)
    {
        options.Validate();
        if (options.Pipeline is null && string.IsNullOrWhiteSpace(options.Model))
            throw new ArgumentException("no model to serve: set Pipeline (a loaded pipeline) or Model (a model directory or name)");

        services.AddSingleton(options);
        services.AddSingleton<ServedPipeline>();
        services.AddMetrics();
        services.AddSingleton<ServerMetrics>();
        // Created (and so disposed) by the container: disposal comes after the web server has drained.
        services.AddSingleton<ModelGate>();
        services.AddSingleton<Health>();
        services.AddSingleton<BertSharpRoutes>();
        services.AddHostedService<HealthLifecycle>();
        services.AddTransient<IStartupFilter, RequestMetrics>();
        services.AddProblemDetails();
        services.AddHealthChecks().AddCheck<ModelReadyCheck>(ModelReadyCheck.Name, tags: [ModelReadyCheck.Tag]);
        // Registered with or without a key, so that an app can place UseAuthentication and UseAuthorization after its rate
        // limiter either way (ASP.NET adds them itself when left out, but ahead of everything the app adds).
        var authentication = services.AddAuthentication();
        services.AddAuthorization();
        if (options.ApiKey is { } key)
        {
            authentication.AddScheme<ApiKeyAuthenticationOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName,
                o => o.KeyDigest = ApiKeyAuthenticationHandler.Digest(key));
            services.AddAuthorizationBuilder().AddPolicy(ApiKeyAuthenticationHandler.Policy,
                p => p.AddAuthenticationSchemes(ApiKeyAuthenticationHandler.SchemeName).RequireAuthenticatedUser());
        }
        if (options.RateLimit > 0) services.AddRateLimiter(o => o.AddPolicy<string, ClientRateLimitPolicy>(ClientRateLimitPolicy.Name));
        services.AddOpenTelemetry().WithMetrics(metrics => ((IDeferredMeterProviderBuilder)metrics.AddMeter(ServerMetrics.MeterName))
            .Configure((provider, builder) =>
            {
                // A meter listener sees every meter of the process: two servers in one process (tests, an app
                // hosting two models) would each export the other's counts. Only this app's meter is kept.
                var own = provider.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
                builder.AddView(instrument => instrument.Meter.Name == ServerMetrics.MeterName && !ReferenceEquals(instrument.Meter.Scope, own)
                    ? MetricStreamConfiguration.Drop
                    : null);
            })
            .AddPrometheusExporter(o =>
            {
                // Each scrape sees the counts as they are (the default caches an answer for 300 ms).
                o.ScrapeResponseCacheDurationMilliseconds = 0;
                o.ScopeInfoEnabled = false;
                o.TargetInfoEnabled = false;
            }));
        return services;
    }
}
