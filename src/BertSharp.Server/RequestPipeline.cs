using System.Diagnostics;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace BertSharp.Server;

/// <summary>
/// The middleware every request passes: metrics around everything, then errors turned into JSON
/// (never a stack trace), then the API key check on /v1/*.
/// </summary>
internal sealed class RequestPipeline(ServerMetrics metrics, ServerOptions options, ILogger<RequestPipeline> logger)
{
    private readonly byte[]? _apiKey = options.ApiKey is null ? null : System.Text.Encoding.UTF8.GetBytes(options.ApiKey);

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        long started = Stopwatch.GetTimestamp();
        metrics.RequestStarted();
        try
        {
            await HandleErrorsAsync(context, next);
        }
        finally
        {
            var route = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "unmatched";
            metrics.RequestFinished(route, ServerMetrics.MethodLabel(context.Request.Method), context.Response.StatusCode, Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
    }

    private async Task HandleErrorsAsync(HttpContext context, RequestDelegate next)
    {
        try
        {
            if (_apiKey is not null && NeedsKey(context.Request.Path)) CheckApiKey(context.Request);
            await next(context);
        }
        catch (ApiException e)
        {
            await WriteErrorAsync(context, e.Status, e.Code, e.Message);
        }
        catch (BadHttpRequestException e)
        {
            // Kestrel's own refusals (body over the limit while reading, a client that stalls, …)
            var (code, message) = e.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? ("body_too_large", $"the body is larger than the server's limit of {options.MaxBodyBytes} bytes")
                : ("bad_request", e.Message);
            await WriteErrorAsync(context, e.StatusCode, code, message);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; there is no one to answer.
        }
        catch (Exception e)
        {
            logger.LogError(e, "{Method} {Path} failed", context.Request.Method, context.Request.Path);
            await WriteErrorAsync(context, StatusCodes.Status500InternalServerError, "internal_error", "the server failed to handle the request; see its log");
        }
    }

    // /metrics reveals traffic and error patterns, so it is behind the key too unless made public.
    private bool NeedsKey(PathString path) =>
        path.StartsWithSegments("/v1") || (!options.MetricsPublic && path.StartsWithSegments("/metrics"));

    private void CheckApiKey(HttpRequest request)
    {
        string? given = null;
        if (request.Headers.Authorization.ToString() is { Length: > 0 } auth)
        {
            if (!auth.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
                throw Unauthorized("the Authorization header must be 'Bearer <key>'");
            given = auth["Bearer ".Length..].Trim();
        }
        else if (request.Headers.TryGetValue("X-API-Key", out var header)) given = header.ToString();
        if (given is null) throw Unauthorized("this server needs an API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'");
        if (!CryptographicOperations.FixedTimeEquals(System.Text.Encoding.UTF8.GetBytes(given), _apiKey))
            throw Unauthorized("wrong API key");
    }

    private static ApiException Unauthorized(string message) => new(StatusCodes.Status401Unauthorized, "unauthorized", message);

    private async Task WriteErrorAsync(HttpContext context, int status, string code, string message)
    {
        metrics.Error(code);
        if (context.Response.HasStarted) return; // too late to change the answer; the connection is dropped
        context.Response.Clear();
        if (status == StatusCodes.Status401Unauthorized) context.Response.Headers.WWWAuthenticate = "Bearer";
        if (status == StatusCodes.Status503ServiceUnavailable) context.Response.Headers.RetryAfter = "1";
        await JsonResponse.WriteErrorAsync(context, status, code, message);
    }

    /// <summary>Gives the framework's bare 404/405 (and any other empty error) the same JSON shape.</summary>
    public async Task StatusCodePageAsync(HttpContext context)
    {
        int status = context.Response.StatusCode;
        var (code, message) = status switch
        {
            StatusCodes.Status404NotFound => ("not_found", $"no such endpoint: {context.Request.Method} {context.Request.Path}"),
            StatusCodes.Status405MethodNotAllowed => ("method_not_allowed", $"{context.Request.Path} does not take {context.Request.Method}"),
            _ => ("http_" + status, $"HTTP {status}"),
        };
        metrics.Error(code);
        await JsonResponse.WriteErrorAsync(context, status, code, message);
    }
}
