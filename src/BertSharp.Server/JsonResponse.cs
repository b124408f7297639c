using System.Buffers;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace BertSharp.Server;

/// <summary>Writes JSON straight from a <see cref="Utf8JsonWriter"/>: no DTOs on the hot path, and a Content-Length.</summary>
internal static class JsonResponse
{
    private static readonly JsonWriterOptions Options = new() { SkipValidation = true };

    public static Task WriteAsync<TState>(HttpContext context, int status, TState state, Action<Utf8JsonWriter, TState> write)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer, Options))
        {
            write(writer, state);
        }
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json; charset=utf-8";
        context.Response.ContentLength = buffer.WrittenCount;
        return context.Response.Body.WriteAsync(buffer.WrittenMemory).AsTask();
    }

    /// <summary>The one error shape: <c>{"error": {"code", "message"}}</c>.</summary>
    public static Task WriteErrorAsync(HttpContext context, int status, string code, string message) =>
        WriteAsync(context, status, (code, message), static (w, e) =>
        {
            w.WriteStartObject();
            w.WriteStartObject("error");
            w.WriteString("code", e.code);
            w.WriteString("message", e.message);
            w.WriteEndObject();
            w.WriteEndObject();
        });
}
