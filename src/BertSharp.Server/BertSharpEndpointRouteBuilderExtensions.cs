using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace BertSharp.Server;

/// <summary>Maps the endpoints of the model server that <see cref="BertSharpServiceCollectionExtensions.AddBertSharp"/> registered.</summary>
public static class BertSharpEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps, under <paramref name="prefix"/>: the task's endpoint (POST /v1/classify, /v1/ner, /v1/qa or
    /// /v1/fill-mask, by the model's head), POST /v1/embed, /v1/tokenize, /v1/attention, GET /v1/model, the
    /// health endpoints /health, /health/live and /health/ready, /metrics (Prometheus) and the web page at /.
    /// /v1/* (and /metrics unless <see cref="ServerOptions.MetricsPublic"/>) need the API key when one is set, and
    /// /v1/* take the rate limit when one is set, which needs <c>app.UseRateLimiter()</c> in the app's pipeline (after
    /// <c>app.UseRouting()</c> and before <c>app.UseAuthentication()</c>, so that requests with a wrong key count too).
    /// The model is loaded here when <see cref="ServerOptions.Model"/> names it.
    /// </summary>
    /// <param name="endpoints">The app (or a route group).</param>
    /// <param name="prefix">A path the endpoints go under, such as "/bert"; empty: at the root.</param>
    /// <returns>The route group holding the endpoints, to add conventions to.</returns>
    /// <exception cref="InvalidOperationException"><see cref="BertSharpServiceCollectionExtensions.AddBertSharp"/> was not called.</exception>
    public static RouteGroupBuilder MapBertSharp(this IEndpointRouteBuilder endpoints, string prefix = "")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var services = endpoints.ServiceProvider;
        var options = services.GetService<ServerOptions>()
            ?? throw new InvalidOperationException("MapBertSharp needs the server's services: call builder.Services.AddBertSharp(…) first");
        var state = new ServerState(services.GetRequiredService<ServedPipeline>().Pipeline, options, services.GetRequiredService<ModelGate>(),
            services.GetRequiredService<ServerMetrics>());
        services.GetRequiredService<BertSharpRoutes>().Prefix = new PathString(prefix.TrimEnd('/'));

        var root = endpoints.MapGroup(prefix.TrimEnd('/'));
        var api = root.MapGroup("/v1");
        if (options.ApiKey is not null) api.RequireAuthorization(ApiKeyAuthenticationHandler.Policy);
        if (options.RateLimit > 0) api.RequireRateLimiting(ClientRateLimitPolicy.Name);
        var v1 = new ApiRoutes(api, options);
        TaskEndpoints.Map(v1, state);
        v1.Post("/embed", new EmbedEndpoint(state).HandleAsync);
        v1.Post("/tokenize", new TokenizeEndpoint(state).HandleAsync);
        v1.Post("/attention", new AttentionEndpoint(state).HandleAsync);
        // GET endpoints also answer HEAD (RFC 9110 §9.3.2), as probes and link checkers send it; Kestrel drops the body.
        v1.Get("/model", new ModelEndpoint(state).HandleAsync);

        root.MapMethods("/health", ApiRoutes.GetOrHead, context => JsonResponse.WriteAsync(context, StatusCodes.Status200OK, state, static (w, s) =>
        {
            w.WriteStartObject();
            w.WriteString("status", "ok");
            w.WriteString("model", s.Options.ModelName);
            w.WriteString("runtime", s.Pipeline.Runtime.ToString().ToLowerInvariant());
            w.WriteEndObject();
        }));
        // The health checks' and the scraper's own mappings take any method (DELETE /health/ready was a 200): GET and HEAD
        // only, and routing answers the rest 405 with Allow.
        var readOnly = new HttpMethodMetadata(ApiRoutes.GetOrHead);
        root.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = ModelReadyCheck.WriteLiveAsync }).WithMetadata(readOnly);
        root.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains(ModelReadyCheck.Tag), ResponseWriter = ModelReadyCheck.WriteReadyAsync }).WithMetadata(readOnly);
        var metrics = root.MapPrometheusScrapingEndpoint("/metrics").WithMetadata(readOnly);
        // /metrics reveals traffic and error patterns, so it is behind the key too unless made public.
        if (options.ApiKey is not null && !options.MetricsPublic) metrics.RequireAuthorization(ApiKeyAuthenticationHandler.Policy);
        WebPage.Map(root);
        return root;
    }
}

/// <summary>Maps /v1 endpoints, each answering its refusals as problems (<see cref="Problems.Guard"/>).</summary>
internal sealed class ApiRoutes(IEndpointRouteBuilder group, ServerOptions options)
{
    public static readonly string[] GetOrHead = [HttpMethods.Get, HttpMethods.Head];

    public void Post(string pattern, RequestDelegate handler) => group.MapPost(pattern, Guard(handler));

    public void Get(string pattern, RequestDelegate handler) => group.MapMethods(pattern, GetOrHead, Guard(handler));

    private RequestDelegate Guard(RequestDelegate handler) => Problems.Guard(options.RateLimit > 0 ? RateLimited(handler) : handler, options);

    // The policy only marks requests it was applied to: unmarked, the app has no rate limiter middleware,
    // and serving on without the configured limit would be a silent failure.
    private static RequestDelegate RateLimited(RequestDelegate handler) => context =>
        context.Items.ContainsKey(ClientRateLimitPolicy.Applied) ? handler(context)
        : throw new InvalidOperationException("a rate limit is set but the app has no rate limiter middleware: call app.UseRateLimiter() before the endpoints");
}
