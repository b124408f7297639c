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
}
