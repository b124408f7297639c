using System.Diagnostics;
using System.Globalization;
using System.Text;
using BertSharp.Data;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Server;
using BertSharp.Tensors;
using BertSharp.Text;
using CsCheck;
using Microsoft.AspNetCore.Http;
using Parquet;
using Parquet.Schema;
using Encoding = System.Text.Encoding;

namespace BertSharp.Bench;

/// <summary>
/// A fuzz pass over every parser that takes outside bytes (issue 15): the safetensors header,
/// config.json, vocab.txt, tokenizer.json, the CSV/TSV, JSON Lines and Parquet readers, and the
/// server's request JSON. Each gets a fixed time budget of inputs made by CsCheck from valid seed
/// files with byte edits (flips, inserts, deletes, truncation, and tokens that break parsers: huge
/// numbers, lone surrogates, quotes, brackets). An input passes when the parser accepts it or
/// refuses it the documented way — InvalidDataException or NotSupportedException naming the file, or
/// for requests an ApiException with a 4xx status; any other exception is a crash, which CsCheck
/// shrinks to a small input and prints. Not in CI: run by hand, figures in docs/RELIABILITY.md.
/// </summary>
internal static class FuzzBench
{
    private static readonly byte[][] Tokens =
    [
        .. new[] { "2147483647", "-1", "1e309", "99999999999999999999", "NaN", "null", "\"", "{", "}", "[", "]", ",", ":", "\\ud800", "\\udc00", "\n", "\r", "\t" }
            .Select(Encoding.UTF8.GetBytes),
        [0xC3], [0xFF], [0xED, 0xA0, 0x80], [0],
    ];

    private static readonly TimeSpan HangAfter = TimeSpan.FromSeconds(10);

    private sealed record Target(string Name, byte[][] Seeds, Action<byte[]> Parse, Func<Exception, bool> Refusal);

    public static int Run(string[] args)
    {
        double secondsEach = double.Parse(ServeLoadBench.Arg(args, "--seconds") ?? "20", CultureInfo.InvariantCulture);
        string? only = ServeLoadBench.Arg(args, "--target");
        var root = Directory.CreateTempSubdirectory("bertsharp-fuzz-").FullName;
        try
        {
            var targets = Targets(root).Where(t => only is null || t.Name == only).ToArray();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"fuzz: {secondsEach} s per parser, {Environment.ProcessorCount} cores, CsCheck, seed files mutated"));
            Console.WriteLine("| parser | executions | executions/s | accepted | refused | crashes | hangs |");
            Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
            int failures = 0;
            foreach (var target in targets)
            {
                foreach (var seed in target.Seeds) target.Parse(seed); // a seed that does not parse is a broken harness
                long executions = 0, accepted = 0, refused = 0, hangs = 0;
                byte[]? firstHang = null;
                string? crash = null;
                var clock = Stopwatch.StartNew();
                try
                {
                    Mutations(target.Seeds).Sample(input =>
                    {
                        Interlocked.Increment(ref executions);
                        // A parser that never returns is a finding too; it is counted and left
                        // behind (its thread keeps running) rather than shrunk, which would hang again.
                        var run = Task.Run(() => target.Parse(input));
                        if (Task.WaitAny([run], HangAfter) < 0)
                        {
                            if (Interlocked.Increment(ref hangs) == 1) firstHang = input;
                            return;
                        }
                        try
                        {
                            run.GetAwaiter().GetResult();
                            Interlocked.Increment(ref accepted);
                        }
                        catch (Exception e) when (target.Refusal(e))
                        {
                            Interlocked.Increment(ref refused);
                        }
                    }, time: (int)secondsEach, threads: 1, print: Show);
                }
                catch (Exception e)
                {
                    // CsCheck's message has the shrunk input and the seed to replay it; the cause is the parser's exception.
                    crash = $"{e.Message}\n{e.InnerException?.GetType().Name}: {e.InnerException?.Message}";
                    failures++;
                }
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {target.Name} | {executions} | {executions / clock.Elapsed.TotalSeconds:F0} | {accepted} | {refused} | {(crash is null ? 0 : 1)} | {hangs} |"));
                if (crash is not null) Console.WriteLine($"crash in {target.Name}:\n{crash}");
                if (firstHang is not null)
                {
                    var saved = Path.GetFullPath($"fuzz-hang-{target.Name}.bin");
                    System.IO.File.WriteAllBytes(saved, firstHang);
                    Console.WriteLine($"hang in {target.Name} (no answer in {HangAfter.TotalSeconds} s), input saved to {saved}: {Show(firstHang)}");
                }
                failures += hangs > 0 ? 1 : 0;
            }
            return failures == 0 ? 0 : 1;
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    // A seed with 1-8 edits; positions are fractions of the current length, so every seed size is covered.
    private static Gen<byte[]> Mutations(byte[][] seeds) =>
        Gen.Select(Gen.Int[0, seeds.Length - 1], Gen.Select(Gen.Int[0, 4], Gen.Double[0, 1], Gen.Int[0, 255]).Array[1, 8])
            .Select((s, edits) =>
            {
                var bytes = new List<byte>(seeds[s]);
                foreach (var (op, where, value) in edits)
                {
                    int at = (int)(where * bytes.Count);
                    switch (op)
                    {
                        case 0 when at < bytes.Count: bytes[at] = (byte)value; break;
                        case 1: bytes.Insert(at, (byte)value); break;
                        case 2 when at < bytes.Count: bytes.RemoveAt(at); break;
                        case 3: bytes.RemoveRange(at, bytes.Count - at); break;
                        case 4: bytes.InsertRange(at, Tokens[value % Tokens.Length]); break;
                    }
                }
                return bytes.ToArray();
            });

    private static string Show(byte[] input) =>
        $"{input.Length} bytes: {Encoding.UTF8.GetString(input).Replace("\n", "\\n", StringComparison.Ordinal)} (hex {Convert.ToHexString(input.AsSpan(0, Math.Min(input.Length, 256)))})";

    private static bool FileRefusal(Exception e) => e is InvalidDataException or NotSupportedException;

    private static Target[] Targets(string root)
    {
        string File(string name) => Path.Combine(root, name);
        void Write(string name, byte[] bytes) => System.IO.File.WriteAllBytes(File(name), bytes);

        var config = new BertConfig
        {
            VocabSize = 12,
            HiddenSize = 4,
            NumHiddenLayers = 1,
            NumAttentionHeads = 2,
            IntermediateSize = 8,
            MaxPositionEmbeddings = 8,
            Id2Label = new Dictionary<string, string> { ["0"] = "neg", ["1"] = "pos" },
            Label2Id = new Dictionary<string, int> { ["neg"] = 0, ["pos"] = 1 },
        };
        string[] vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "film", "good", "bad", "##s", "é"];
        // Names and shapes from the module tree (a random encoder's state dict), plus a two-label head.
        var weights = new StateDict();
        foreach (var (name, t) in BertModel.CreateRandom(config with { Id2Label = null, Label2Id = null }, 1).ToStateDict()) weights[name] = t;
        weights["classifier.weight"] = new FloatTensor([2, 4]);
        weights["classifier.bias"] = new FloatTensor([2]);
        weights = weights.WithCheckpointNames();
        var model = File("model");
        HfDirectory.Save(model, config, weights, () => new MemoryStream(Encoding.UTF8.GetBytes(string.Join("\n", vocab) + "\n")), true, 8);
        // A second, small safetensors file so that most edits land in the header rather than the data.
        SafeTensors.Write(File("small.safetensors"), new Dictionary<string, FloatTensor> { ["a"] = new([2, 1], [1, 2]), ["b"] = new([1], [3]) }, new Dictionary<string, string> { ["format"] = "pt" });

        var tokenizerJson = "{\"version\":\"1.0\",\"normalizer\":{\"type\":\"BertNormalizer\",\"clean_text\":true,\"handle_chinese_chars\":true,\"strip_accents\":null,\"lowercase\":true}," +
            "\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"continuing_subword_prefix\":\"##\",\"max_input_chars_per_word\":100,\"vocab\":{" +
            string.Join(",", vocab.Select((t, i) => $"\"{t}\":{i}")) + "}}}";

        var csv = "text,label\n\"a good film\",pos\n\"bad, \"\"very\"\" bad\",neg\nthe film,pos\n"u8.ToArray();
        var tsv = "sentence\tlabel\na good film\t1\nbad film\t0\n"u8.ToArray();
        var jsonl = "{\"text\": \"a good film\", \"label\": \"pos\"}\n{\"text\": \"bad\", \"label\": 0}\n"u8.ToArray();
        var parquet = ParquetSeed();

        var options = new ServerOptions();
        return
        [
            new("safetensors", [System.IO.File.ReadAllBytes(Path.Combine(model, HfDirectory.WeightsFile)), System.IO.File.ReadAllBytes(File("small.safetensors"))],
                bytes => { Write("fuzz.safetensors", bytes); SafeTensors.Read(File("fuzz.safetensors")); }, FileRefusal),
            new("config.json", [System.IO.File.ReadAllBytes(Path.Combine(model, HfDirectory.ConfigFile))],
                bytes => { Write("config.json", bytes); HfDirectory.ReadConfig(File("config.json")); }, FileRefusal),
            new("vocab.txt", [System.IO.File.ReadAllBytes(Path.Combine(model, HfDirectory.VocabFile))],
                bytes => BertTokenizer.FromVocab(new MemoryStream(bytes)).Encode("The films é good", "bad"), FileRefusal),
            new("tokenizer.json", [Encoding.UTF8.GetBytes(tokenizerJson)],
                bytes => { Write("tokenizer.json", bytes); BertTokenizer.FromTokenizerJson(File("tokenizer.json")).Encode("The films é good"); }, FileRefusal),
            new("csv", [csv],
                bytes => { Write("data.csv", bytes); TextDataset.Load(File("data.csv")); }, FileRefusal),
            new("tsv", [tsv],
                bytes => { Write("data.tsv", bytes); TextDataset.Load(File("data.tsv")); }, FileRefusal),
            new("jsonl", [jsonl],
                bytes => { Write("data.jsonl", bytes); TextDataset.Load(File("data.jsonl")); }, FileRefusal),
            new("parquet", [parquet],
                bytes => { Write("data.parquet", bytes); TextDataset.Load(File("data.parquet")); }, FileRefusal),
            new("request-json", ["{\"texts\": [\"a good film\", \"bad\"], \"text_pairs\": [\"x\", null], \"top_k\": 1}"u8.ToArray(), "{\"text\": \"é\", \"text_pair\": \"b\"}"u8.ToArray()],
                bytes => ParseRequest(bytes, options), e => e is ApiException { Status: < 500 }),
        ];
    }

    // The server's own path for a body: JsonBody (size, UTF-8, JSON) then the endpoint's field parsing.
    private static void ParseRequest(byte[] body, ServerOptions options)
    {
        var context = new DefaultHttpContext();
        context.Request.ContentType = "application/json";
        context.Request.ContentLength = body.Length;
        context.Request.Body = new MemoryStream(body);
        using var document = JsonBody.ReadAsync(context, options.MaxBodyBytes).GetAwaiter().GetResult();
        TextsRequest.Parse(document.RootElement, options);
        TextsRequest.OptionalPositiveInt(document.RootElement, "top_k");
    }

    private static byte[] ParquetSeed()
    {
        using var stream = new MemoryStream();
        var text = new DataField<string>("text");
        var label = new DataField<long>("label");
        var writer = ParquetWriter.CreateAsync(new ParquetSchema(text, label), stream).GetAwaiter().GetResult();
        using (var group = writer.CreateRowGroup())
        {
            group.WriteAsync(text, new[] { "a good film", "bad" }).GetAwaiter().GetResult();
            group.WriteAsync(label, new ReadOnlyMemory<long>([1, 0])).GetAwaiter().GetResult();
        }
        writer.DisposeAsync().AsTask().GetAwaiter().GetResult();
        return stream.ToArray();
    }
}
