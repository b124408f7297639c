using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace BertSharp.Server;

/// <summary>
/// Every error answer: an RFC 9457 problem (<c>application/problem+json</c>: type, title, status, detail)
/// written by ASP.NET's problem-details service, with the extension <c>"error": {"code", "message"}</c> that
/// clients of the earlier <c>{"error": …}</c> body read; and never a stack trace.
/// </summary>
internal static class Problems
{
    public static async Task WriteAsync(HttpContext context, int status, string code, string message, TimeSpan? retryAfter = null)
    {
        context.RequestServices.GetService<ServerMetrics>()?.Error(code);
        if (context.Response.HasStarted) return; // too late to change the answer; the connection is dropped
        // Routing's 405 names the methods the path takes (RFC 9110 §15.5.6 requires it); clearing the response dropped it.
        var allow = context.Response.Headers.Allow;
        context.Response.Clear();
        context.Response.StatusCode = status;
        if (status == StatusCodes.Status405MethodNotAllowed) context.Response.Headers.Allow = allow;
        if (status == StatusCodes.Status401Unauthorized) context.Response.Headers.WWWAuthenticate = "Bearer";
        retryAfter ??= status == StatusCodes.Status503ServiceUnavailable ? TimeSpan.FromSeconds(1) : null;
        // Whole seconds (RFC 9110 §10.2.3), rounded up so that a client waiting that long finds room.
        if (retryAfter is { } wait) context.Response.Headers.RetryAfter = Math.Max(1, (long)Math.Ceiling(wait.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var problem = new ProblemDetails
        {
            Status = status,
            Title = ReasonPhrases.GetReasonPhrase(status),
            Detail = message,
            // A stable code to branch on and the message for people; a dictionary, so that the app's JSON
            // naming policy (which renames properties, not keys) cannot rename the members clients read.
            Extensions = { ["error"] = new Dictionary<string, string> { ["code"] = code, ["message"] = message } },
        };
        // The service writes it when the client accepts JSON; otherwise the result writes the same body itself.
        await TypedResults.Problem(problem).ExecuteAsync(context);
    }

    /// <summary>
    /// Wraps an endpoint so that a refused request (<see cref="ApiException"/>, Kestrel's body limit) is its
    /// problem answer and anything else a logged 500, whatever error handling the hosting app has.
    /// </summary>
    public static RequestDelegate Guard(RequestDelegate endpoint, ServerOptions options) => async context =>
    {
        try
        {
            await endpoint(context);
        }
        catch (ApiException e)
        {
            await WriteAsync(context, e.Status, e.Code, e.Message);
        }
        catch (BadHttpRequestException e)
        {
            // Kestrel's own refusals while the body is read (over the transport limit, a client that stalls, …)
            var (code, message) = e.StatusCode switch
            {
                StatusCodes.Status413PayloadTooLarge => ("body_too_large", $"the body is larger than the server's limit of {options.MaxBodyBytes} bytes"),
                // Kestrel's message names its own setting (MinRequestBodyDataRate), and the code was bad_request.
                StatusCodes.Status408RequestTimeout => ("request_timeout", "the body arrived too slowly; the server stopped waiting for it"),
                _ => ("bad_request", e.Message),
            };
            await WriteAsync(context, e.StatusCode, code, message);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; there is no one to answer.
        }
        catch (Exception e)
        {
            context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("BertSharp.Server")
                .LogError(e, "{Method} {Path} failed", context.Request.Method, context.Request.Path);
            await WriteAsync(context, StatusCodes.Status500InternalServerError, "internal_error", "the server failed to handle the request; see its log");
        }
    };

    /// <summary>Gives the framework's bare 404 and 405 (and any other empty error) a problem body.</summary>
    public static Task StatusCodePageAsync(HttpContext context)
    {
        int status = context.Response.StatusCode;
        var (code, message) = status switch
        {
            StatusCodes.Status404NotFound => ("not_found", $"no such endpoint: {context.Request.Method} {context.Request.Path}"),
            StatusCodes.Status405MethodNotAllowed => ("method_not_allowed", $"{context.Request.Path} does not take {context.Request.Method}"),
            _ => ("http_" + status, $"HTTP {status}"),
        };
        return WriteAsync(context, status, code, message);
    }
}
