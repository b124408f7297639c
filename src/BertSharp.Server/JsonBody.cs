using System.Text.Json;
using System.Text.Unicode;
using Microsoft.AspNetCore.Http;

namespace BertSharp.Server;

/// <summary>Reads a request's JSON object, turning each way it can be wrong into its own status.</summary>
internal static class JsonBody
{
    private static readonly JsonDocumentOptions Options = new() { MaxDepth = 16 };

    /// <summary>
    /// Kestrel's own body limit: far above the API's, so that an oversize body can be read to its end
    /// and discarded before the 413, as nginx's lingering close does — a client still sending would
    /// otherwise see a broken pipe instead of the answer. Beyond it Kestrel drops the connection.
    /// </summary>
    public static long TransportLimit(long maxBytes) => Math.Max(maxBytes * 4, 64L << 20);

    public static async Task<JsonDocument> ReadAsync(HttpContext context, long maxBytes)
    {
        var request = context.Request;
        if (!request.HasJsonContentType())
            throw new ApiException(StatusCodes.Status415UnsupportedMediaType, "unsupported_media_type",
                $"send the body as JSON with 'Content-Type: application/json' (got {(string.IsNullOrEmpty(request.ContentType) ? "no content type" : $"'{request.ContentType}'")})");
        // A compressed body that no middleware decoded (ASP.NET's request decompression removes the header of those it
        // does): read as JSON it was a misleading invalid_utf8, and a plain body labelled gzip was taken as it came.
        if (request.Headers.ContentEncoding.ToString() is { Length: > 0 } encoding && !encoding.Equals("identity", StringComparison.OrdinalIgnoreCase))
            throw new ApiException(StatusCodes.Status415UnsupportedMediaType, "unsupported_media_type",
                $"the body's Content-Encoding '{(encoding.Length <= 40 ? encoding : encoding[..40] + "…")}' is not one the server decodes; send the JSON uncompressed (bertsharp serve also takes gzip, br and deflate)");
        var ct = context.RequestAborted;
        if (request.ContentLength > maxBytes)
        {
            await DiscardAsync(request.Body, ct);
            throw TooLarge(maxBytes);
        }
        var buffer = new byte[request.ContentLength is { } n ? (int)n + 1 : 4096];
        int length = 0;
        while (true)
        {
            if (length == buffer.Length) Array.Resize(ref buffer, (int)Math.Min(buffer.Length * 2L, maxBytes + 1));
            int read;
            try
            {
                read = await request.Body.ReadAsync(buffer.AsMemory(length), ct);
            }
            catch (InvalidDataException)
            {
                // The decompression middleware's stream: a body labelled gzip (br, deflate) that is not was a 500.
                throw new ApiException(StatusCodes.Status400BadRequest, "invalid_content_encoding", "the body is not data of its Content-Encoding; send it compressed as the header says, or uncompressed without the header");
            }
            if (read == 0) break;
            length += read;
            if (length > maxBytes)
            {
                await DiscardAsync(request.Body, ct);
                throw TooLarge(maxBytes);
            }
        }
        // JSON text is UTF-8 (RFC 8259); the parser leaves string contents to be decoded later, where a
        // bad byte would surface as an internal error, so the whole body is checked here, once.
        if (!Utf8.IsValid(buffer.AsSpan(0, length)))
        {
            int at = FirstInvalidUtf8(buffer.AsSpan(0, length));
            throw new ApiException(StatusCodes.Status400BadRequest, "invalid_utf8", $"the body is not valid UTF-8 (bad byte 0x{buffer[at]:X2} at offset {at}); send JSON as UTF-8");
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(buffer.AsMemory(0, length), Options);
        }
        catch (JsonException e)
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "malformed_json", $"the body is not valid JSON: {Brief(e)}");
        }
        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            document.Dispose();
            throw new ApiException(StatusCodes.Status400BadRequest, "malformed_json", "the body must be a JSON object, e.g. {\"text\": \"…\"}");
        }
        if (FirstBadName(document.RootElement) is { } bad)
        {
            document.Dispose();
            throw new ApiException(StatusCodes.Status400BadRequest, "invalid_text", $"a property name in the body is not valid Unicode text ({bad})");
        }
        return document;
    }

    // The parser quotes the token it stopped at, and a bad literal runs to the end of the body: a 200 KB body came back
    // twice in its 400 (detail and error message). Such a token keeps its first 40 characters and its length (the
    // library does the same for files, BertSharp.IO.JsonErrors, internal there).
    private static string Brief(JsonException e)
    {
        int end = e.Message.StartsWith('\'') ? e.Message.IndexOf("' is ", 1, StringComparison.Ordinal) : -1;
        return end <= 41 ? e.Message : $"'{e.Message[1..41]}…' ({end - 1:N0} characters){e.Message[(end + 1)..]}";
    }

    // Escaped names ("te\\ud800xt") are decoded when a field is looked up, where a lone surrogate
    // would throw inside an endpoint: every name is decoded once here instead (string values are
    // decoded, with their own error, where they are read).
    private static string? FirstBadName(JsonElement element)
    {
        try
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.Object:
                    foreach (var p in element.EnumerateObject())
                    {
                        _ = p.Name;
                        if (FirstBadName(p.Value) is { } bad) return bad;
                    }
                    break;
                case JsonValueKind.Array:
                    foreach (var item in element.EnumerateArray())
                        if (FirstBadName(item) is { } bad) return bad;
                    break;
            }
            return null;
        }
        catch (InvalidOperationException e)
        {
            return e.Message;
        }
    }

    private static int FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        Utf8.ToUtf16(bytes, new char[bytes.Length], out int valid, out _, replaceInvalidSequences: false);
        return valid;
    }

    private static async Task DiscardAsync(Stream body, CancellationToken ct)
    {
        var scratch = new byte[16384];
        while (await body.ReadAsync(scratch, ct) > 0)
        {
        }
    }

    private static ApiException TooLarge(long maxBytes) =>
        new(StatusCodes.Status413PayloadTooLarge, "body_too_large", $"the body is larger than the server's limit of {maxBytes} bytes; send fewer or shorter texts");
}
