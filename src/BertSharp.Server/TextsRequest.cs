using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace BertSharp.Server;

/// <summary>
/// The texts of a /v1/classify, /v1/embed or /v1/tokenize body: <c>"text"</c> (one) or <c>"texts"</c>
/// (many), with optional <c>"text_pair"</c> / <c>"text_pairs"</c>, checked against the server's limits.
/// </summary>
internal sealed class TextsRequest
{
    private TextsRequest(string[] texts, string?[]? pairs)
    {
        Texts = texts;
        Pairs = pairs;
    }

    public string[] Texts { get; }
    public string?[]? Pairs { get; }

    public static TextsRequest Parse(JsonElement body, ServerOptions limits)
    {
        bool hasText = body.TryGetProperty("text", out var text);
        bool hasTexts = body.TryGetProperty("texts", out var texts);
        if (hasText == hasTexts)
            throw Invalid("invalid_field", hasText ? "give either \"text\" or \"texts\", not both" : "missing \"text\" (a string) or \"texts\" (an array of strings)");
        string[] items;
        string?[]? pairs = null;
        if (hasText)
        {
            items = [String(text, "\"text\"", allowNull: false)!];
            if (body.TryGetProperty("text_pair", out var pair) && pair.ValueKind != JsonValueKind.Null) pairs = [String(pair, "\"text_pair\"", allowNull: false)];
            if (body.TryGetProperty("text_pairs", out _)) throw Invalid("invalid_field", "\"text_pairs\" goes with \"texts\"; with \"text\" use \"text_pair\"");
        }
        else
        {
            items = Strings(texts, "texts", limits.MaxTextsPerRequest, allowNull: false)!;
            if (body.TryGetProperty("text_pairs", out var pairArray) && pairArray.ValueKind != JsonValueKind.Null)
            {
                pairs = Strings(pairArray, "text_pairs", limits.MaxTextsPerRequest, allowNull: true);
                if (pairs.Length != items.Length)
                    throw Invalid("invalid_field", $"\"text_pairs\" has {pairs.Length} entries but \"texts\" has {items.Length}");
            }
            if (body.TryGetProperty("text_pair", out _)) throw Invalid("invalid_field", "\"text_pair\" goes with \"text\"; with \"texts\" use \"text_pairs\"");
        }
        for (int i = 0; i < items.Length; i++)
        {
            string where = hasText ? "\"text\"" : $"\"texts\"[{i}]";
            Check(items[i], where, limits.MaxCharsPerText);
            if (pairs?[i] is { } p) Check(p, hasText ? "\"text_pair\"" : $"\"text_pairs\"[{i}]", limits.MaxCharsPerText);
        }
        return new TextsRequest(items, pairs);
    }

    /// <summary>An optional positive integer field.</summary>
    public static int? OptionalPositiveInt(JsonElement body, string name)
    {
        if (!body.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out int n) || n < 1)
            throw Invalid("invalid_field", $"\"{name}\" must be a positive integer (got {Shown(value)})");
        return n;
    }

    /// <summary>
    /// A field's JSON as an error shows it: up to 40 characters, then its length (a 900 KB <c>"top_k"</c> came back
    /// whole, twice, in its 422).
    /// </summary>
    public static string Shown(JsonElement value)
    {
        string raw = value.GetRawText();
        return raw.Length <= 40 ? raw : $"{raw[..40]}… ({raw.Length:N0} characters)";
    }

    private static void Check(string text, string where, int maxChars)
    {
        if (string.IsNullOrWhiteSpace(text)) throw Invalid("empty_text", $"{where} is empty; give some text to work on");
        if (text.Length > maxChars)
            throw Invalid("text_too_long", $"{where} has {text.Length} characters; the server's limit is {maxChars}");
    }

    private static string? String(JsonElement value, string where, bool allowNull) => value.ValueKind switch
    {
        JsonValueKind.String => Decode(value, where),
        JsonValueKind.Null when allowNull => null,
        _ => throw Invalid("invalid_field", $"{where} must be a string (got {Kind(value)})"),
    };

    // An escaped lone surrogate ("\ud800") is valid JSON but no text: the decoder refuses it.
    private static string Decode(JsonElement value, string where)
    {
        try
        {
            return value.GetString()!;
        }
        catch (InvalidOperationException)
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "invalid_text", $"{where} is not valid Unicode text (an unpaired surrogate escape such as \\ud800?)");
        }
    }

    private static string?[] Strings(JsonElement value, string name, int max, bool allowNull)
    {
        if (value.ValueKind != JsonValueKind.Array) throw Invalid("invalid_field", $"\"{name}\" must be an array of strings (got {Kind(value)})");
        int n = value.GetArrayLength();
        if (n == 0) throw Invalid("empty_text", $"\"{name}\" is empty; give at least one text");
        if (n > max) throw Invalid("too_many_texts", $"\"{name}\" has {n} entries; the server takes at most {max} per request");
        var result = new string?[n];
        int i = 0;
        foreach (var item in value.EnumerateArray())
        {
            result[i] = String(item, $"\"{name}\"[{i}]", allowNull);
            i++;
        }
        return result;
    }

    private static string Kind(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => value.ValueKind.ToString().ToLowerInvariant(),
    };

    public static ApiException Invalid(string code, string message) => new(StatusCodes.Status422UnprocessableEntity, code, message);
}
