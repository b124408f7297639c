using System.CommandLine;
using System.Text;
using System.Text.Json;
using BertSharp.IO;
using BertSharp.Text;

namespace BertSharp.Cli.Commands;

internal static class TokenizeCommand
{
    public static Command Create()
    {
        var texts = new Argument<string[]>("text") { Description = "Texts to tokenize (one encoding each).", Arity = ArgumentArity.ZeroOrMore };
        var pair = new Option<string?>("--pair") { Description = "Second text of a pair (token type 1)." };
        var maxLength = new Option<int?>("--max-length") { Description = "Truncate to this many tokens, special tokens included (default: the model's, 512)." };
        maxLength.Validators.Add(r =>
        {
            // [CLS] and [SEP] take two (a pair's three; the tokenizer names that case).
            if (r.GetValueOrDefault<int?>() is < 2 and var n) r.AddError($"--max-length {n}: must be at least 2, for [CLS] and [SEP]");
        });
        var model = new Option<string>("--model")
        {
            Description = $"Built-in model name ({string.Join(", ", BuiltInModels.Names)}) a directory with vocab.txt or tokenizer.json, or a hub id.",
            DefaultValueFactory = _ => BuiltInModels.Default,
        };
        var revision = ModelSource.Revision();
        var json = new Option<bool>("--json") { Description = "One JSON object per text: ids, type_ids, attention_mask, tokens, offsets." };
        var input = new Option<FileInfo?>("--input") { Description = "JSON Lines file of {\"text\": …, \"text_pair\": …}; '-' reads stdin. Implies --json." };
        var command = new Command("tokenize", """
            Tokenize text with BERT's WordPiece tokenizer (ids identical to Hugging Face's).
            Examples:
              bertsharp tokenize "I like NLP" "tokenization"
              bertsharp tokenize "I like NLP." --pair "What about you?" --json
              bertsharp tokenize --input texts.jsonl --model ./my-model > encodings.jsonl
            """)
        {
            texts, pair, maxLength, model, revision, json, input,
        };
        command.SetAction(parse =>
        {
            var tokenizer = Load(ModelSource.Resolve(parse.GetValue(model)!, parse.GetValue(revision)));
            var options = new EncodeOptions { MaxLength = parse.GetValue(maxLength) };
            var inputFile = parse.GetValue(input);
            var textValues = parse.GetValue(texts) ?? [];
            using var stdout = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false)) { AutoFlush = false };
            if (inputFile is not null)
            {
                if (textValues.Length > 0) throw new ArgumentException("give texts as arguments or with --input, not both");
                RunJsonLines(tokenizer, options, inputFile, stdout);
                return 0;
            }
            if (textValues.Length == 0) throw new ArgumentException("nothing to tokenize: give one or more texts, or --input FILE");
            var pairText = parse.GetValue(pair);
            foreach (var text in textValues)
            {
                var e = tokenizer.Encode(text, pairText, options);
                if (parse.GetValue(json)) WriteJson(stdout, e);
                else
                {
                    stdout.WriteLine(string.Join(' ', e.Tokens));
                    stdout.WriteLine(string.Join(' ', e.Ids));
                }
            }
            stdout.Flush();
            return 0;
        });
        return command;
    }

    private static BertTokenizer Load(string model) =>
        BuiltInModels.IsBuiltIn(model) ? BertTokenizer.FromBuiltIn(model)
        : Directory.Exists(model) ? BertTokenizer.FromDirectory(model)
        : throw new DirectoryNotFoundException($"--model '{model}' is neither a built-in model ({string.Join(", ", BuiltInModels.Names)}) nor a directory");

    private static void RunJsonLines(BertTokenizer tokenizer, EncodeOptions options, FileInfo file, TextWriter output)
    {
        string name = file.Name == "-" ? "stdin" : file.FullName;
        using var reader = file.Name == "-" ? new StreamReader(Console.OpenStandardInput(), StrictUtf8) : new StreamReader(file.FullName, StrictUtf8);
        int lineNumber = 0;
        while (ReadLine(reader, name, lineNumber + 1) is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            string text;
            string? textPair = null;
            try
            {
                using var doc = JsonDocument.Parse(line);
                if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String)
                    throw new InvalidDataException($"{name}:{lineNumber}: expected an object with a string \"text\"");
                text = t.GetString()!;
                if (doc.RootElement.TryGetProperty("text_pair", out var p) && p.ValueKind != JsonValueKind.Null)
                {
                    if (p.ValueKind != JsonValueKind.String) throw new InvalidDataException($"{name}:{lineNumber}: \"text_pair\" must be a string");
                    textPair = p.GetString();
                }
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{name}:{lineNumber}: not valid JSON: {JsonErrors.Describe(e)}", e);
            }
            catch (InvalidOperationException e)
            {
                // Valid JSON that is not valid text: an escaped lone surrogate.
                throw new InvalidDataException($"{name}:{lineNumber}: {e.Message}", e);
            }
            WriteJson(output, tokenizer.Encode(text, textPair, options));
        }
        output.Flush();
    }

    // Strict decoding, as predict and train read: invalid bytes are an error, not silently U+FFFD.
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static string? ReadLine(StreamReader reader, string name, int lineNumber)
    {
        try
        {
            return reader.ReadLine();
        }
        catch (DecoderFallbackException)
        {
            // The reader decodes ahead of the lines it returns, so the bad bytes are at this line or a later one.
            throw new InvalidDataException($"{name}: not valid UTF-8 (at line {lineNumber} or soon after)");
        }
    }

    private static void WriteJson(TextWriter output, BertSharp.Text.TokenEncoding e)
    {
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            WriteInts(w, "ids", e.Ids);
            WriteInts(w, "type_ids", e.TypeIds);
            WriteInts(w, "attention_mask", e.AttentionMask);
            w.WriteStartArray("tokens");
            foreach (var t in e.Tokens) w.WriteStringValue(t);
            w.WriteEndArray();
            w.WriteStartArray("offsets");
            foreach (var (start, end) in e.Offsets)
            {
                w.WriteStartArray();
                w.WriteNumberValue(start);
                w.WriteNumberValue(end);
                w.WriteEndArray();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        output.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
    }

    private static void WriteInts(Utf8JsonWriter w, string name, int[] values)
    {
        w.WriteStartArray(name);
        foreach (var v in values) w.WriteNumberValue(v);
        w.WriteEndArray();
    }
}
