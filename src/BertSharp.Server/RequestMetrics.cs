using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace BertSharp.Server;

/// <summary>
/// Put first in the app's pipeline (an <see cref="IStartupFilter"/>, so that an app hosting the server need
/// not add it): every request is counted by route, method and status, refusals by authentication and the
/// rate limiter included, and an empty 4xx/5xx under the server's prefix (no route, wrong method) gets a
/// problem body.
/// </summary>
internal sealed class RequestMetrics(ServerMetrics metrics, BertSharpRoutes routes) : IStartupFilter
{
    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Use(InvokeAsync);
        app.UseStatusCodePages(c => routes.Owns(c.HttpContext.Request.Path) ? Problems.StatusCodePageAsync(c.HttpContext) : Task.CompletedTask);
        next(app);
    };

    private async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        long started = Stopwatch.GetTimestamp();
        metrics.RequestStarted();
        try
        {
            await next(context);
        }
        finally
        {
            var route = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "unmatched";
            metrics.RequestFinished(route, ServerMetrics.MethodLabel(context.Request.Method), context.Response.StatusCode, Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
    }
}

/// <summary>Where <see cref="BertSharpEndpointRouteBuilderExtensions.MapBertSharp"/> put the server's endpoints.</summary>
internal sealed class BertSharpRoutes
{
    public PathString Prefix { get; set; }

    public bool Owns(PathString path) => !Prefix.HasValue || path.StartsWithSegments(Prefix);
}
