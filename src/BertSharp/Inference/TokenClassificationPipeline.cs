using System.Numerics.Tensors;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Text;

namespace BertSharp.Inference;

/// <summary>How token predictions become entities, as Hugging Face's token-classification pipeline names the strategies.</summary>
public enum AggregationStrategy
{
    /// <summary>Every word piece with its own tag (B-PER, I-PER…); pieces tagged O are left out.</summary>
    None,

    /// <summary>Adjacent pieces with the same type joined (a B- tag starts a new entity); the score is the mean of the pieces'.</summary>
    Simple,

    /// <summary>Each word takes its first piece's tag and score; adjacent words then join as in <see cref="Simple"/>.</summary>
    First,

    /// <summary>Each word takes the tag of its pieces' mean scores; adjacent words then join as in <see cref="Simple"/>.</summary>
    Average,

    /// <summary>Each word takes the tag of its most confident piece; adjacent words then join as in <see cref="Simple"/>.</summary>
    Max,
}

/// <summary>
/// One entity found in a text: its type (or, without aggregation, the piece's tag), the score, the text it covers
/// and where: [<see cref="Start"/>, <see cref="End"/>) in UTF-16 code units of the original string.
/// </summary>
/// <param name="Entity">The entity type (PER, LOC…) or, with <see cref="AggregationStrategy.None"/>, the piece's tag.</param>
/// <param name="Score">The softmax probability of that tag (a mean over the pieces or words joined).</param>
/// <param name="Word">The original text between <paramref name="Start"/> and <paramref name="End"/>.</param>
/// <param name="Start">Where the entity starts in the text.</param>
/// <param name="End">Where it ends (exclusive).</param>
/// <param name="Index">With <see cref="AggregationStrategy.None"/>: the piece's position in the encoding ([CLS] = 0); else null.</param>
public sealed record TokenEntity(string Entity, float Score, string Word, int Start, int End, int? Index = null);

/// <summary>
/// The token-classification (NER) pipeline: a model directory that <c>bertsharp train --task token-classification</c>
/// (or Hugging Face) wrote, run on the managed encoder or ONNX Runtime, turning texts into entities with offsets.
/// A text longer than the model's maximum length is read in overlapping windows; each piece is predicted in the
/// window where it sits furthest from an edge. Safe to call from several threads.
/// </summary>
public sealed class TokenClassificationPipeline : Pipeline
{
    internal TokenClassificationPipeline(PretrainedModel pretrained, IModelRuntime runtime) : base(pretrained, runtime)
    {
        int outputs = runtime switch
        {
            ManagedRuntime m => ((BertForTokenClassification)m.Model).NumLabels,
            IGraphRuntime o => o.OutputWidth,
            _ => throw new ArgumentOutOfRangeException(nameof(runtime)),
        };
        if (Config.Id2Label is { } names && names.Count != outputs)
            throw new InvalidDataException($"{pretrained.Source}: config.json's id2label has {names.Count} tags but the model outputs {outputs}");
        Labels = [.. Enumerable.Range(0, outputs).Select(i =>
            Config.Id2Label is { } m && m.TryGetValue(i.ToString(System.Globalization.CultureInfo.InvariantCulture), out var n) ? n : $"LABEL_{i}")];
    }

    /// <summary>Tag names by id, from config.json's id2label.</summary>
    public IReadOnlyList<string> Labels { get; }

    /// <summary>Pieces shared by consecutive windows of a long text.</summary>
    public int Stride { get; init; } = 32;

    /// <summary>Loads a fine-tuned token-classification directory to run on the given engine.</summary>
    /// <param name="directory">The model directory; <see cref="InferenceRuntime.Onnx"/> also needs its <c>model.onnx</c>.</param>
    /// <param name="runtime">The engine for the forward pass.</param>
    /// <param name="threads">ONNX Runtime's intra-op threads (0: one per core).</param>
    public static new TokenClassificationPipeline Load(string directory, InferenceRuntime runtime = InferenceRuntime.Managed, int threads = 0)
    {
        var pipeline = Pipeline.Load(directory, runtime, threads);
        if (pipeline is TokenClassificationPipeline ner) return ner;
        pipeline.Dispose();
        throw new InvalidDataException($"{directory}: the model is a {pipeline.Config.Architectures?.FirstOrDefault()}, not a token classifier");
    }

    /// <summary>The entities of one text.</summary>
    public IReadOnlyList<TokenEntity> Predict(string text, AggregationStrategy aggregation = AggregationStrategy.Simple) => PredictBatch([text], aggregation)[0];

    /// <summary>The entities of each text, batched by length.</summary>
    public IReadOnlyList<IReadOnlyList<TokenEntity>> PredictBatch(IReadOnlyList<string> texts, AggregationStrategy aggregation = AggregationStrategy.Simple, int batchSize = 32)
    {
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var pieces = Pieces(texts, batchSize);
        var result = new IReadOnlyList<TokenEntity>[texts.Count];
        for (int i = 0; i < texts.Count; i++) result[i] = Aggregate(texts[i], pieces[i], aggregation);
        return result;
    }

    /// <summary>One word piece of a text with its softmax scores over the tags.</summary>
    private sealed record Piece(int Index, int Start, int End, bool IsSubword, float[] Scores);

    // Every text's pieces in order, each scored in the window where it is most central.
    private List<Piece>[] Pieces(IReadOnlyList<string> texts, int batchSize)
    {
        var options = new EncodeOptions { MaxLength = MaxLength, ReturnOverflowing = true, Stride = Math.Min(Stride, MaxLength / 2) };
        var windows = new List<TokenEncoding>();
        var owner = new List<int>();
        var firstIndex = new List<int>();
        for (int i = 0; i < texts.Count; i++)
        {
            ArgumentNullException.ThrowIfNull(texts[i], nameof(texts));
            var e = Tokenizer.Encode(texts[i], options: options);
            int position = 0;
            foreach (var w in new[] { e }.Concat(e.Overflowing))
            {
                windows.Add(w);
                owner.Add(i);
                firstIndex.Add(position);
                position += w.Length;
            }
        }
        int k = Labels.Count;
        var best = texts.Select(_ => new Dictionary<int, (int Margin, Piece Piece)>()).ToArray();
        foreach (var (input, rows) in Batches(windows, batchSize))
        {
            var logits = Run(input);
            int T = input.SequenceLength;
            foreach (var (row, r) in rows.Select((row, r) => (row, r)))
            {
                var w = windows[row];
                var special = w.SpecialTokensMask;
                for (int t = 0; t < w.Length; t++)
                {
                    if (special[t] == 1) continue;
                    var (start, end) = w.Offsets[t];
                    int margin = Math.Min(t, w.Length - 1 - t);
                    var chosen = best[owner[row]];
                    if (chosen.TryGetValue(start, out var had) && had.Margin >= margin) continue;
                    var scores = logits.AsSpan((r * T + t) * k, k).ToArray();
                    TensorPrimitives.SoftMax(scores, scores);
                    chosen[start] = (margin, new Piece(0, start, end, w.Tokens[t].StartsWith("##", StringComparison.Ordinal), scores));
                }
            }
        }
        // Index pieces as one encoding of the whole text would ([CLS] = 0).
        return [.. best.Select(d => d.Values.Select(v => v.Piece).OrderBy(p => p.Start).Select((p, i) => p with { Index = i + 1 }).ToList())];
    }

    private List<TokenEntity> Aggregate(string text, List<Piece> pieces, AggregationStrategy aggregation)
    {
        // (tag, score, start, end) per unit: a piece, or a word of pieces.
        var units = new List<(string Tag, float Score, int Start, int End, int Index)>();
        if (aggregation is AggregationStrategy.None or AggregationStrategy.Simple)
        {
            foreach (var p in pieces)
            {
                int best = TensorPrimitives.IndexOfMax(p.Scores);
                units.Add((Labels[best], p.Scores[best], p.Start, p.End, p.Index));
            }
        }
        else
        {
            for (int i = 0; i < pieces.Count;)
            {
                int j = i + 1;
                while (j < pieces.Count && pieces[j].IsSubword) j++;
                var word = pieces.GetRange(i, j - i);
                float[] scores;
                if (aggregation == AggregationStrategy.First) scores = word[0].Scores;
                else if (aggregation == AggregationStrategy.Max) scores = word.MaxBy(p => TensorPrimitives.Max(p.Scores))!.Scores;
                else
                {
                    scores = new float[Labels.Count];
                    foreach (var p in word) TensorPrimitives.Add(scores, p.Scores, scores);
                    TensorPrimitives.Divide(scores, word.Count, scores);
                }
                int best = TensorPrimitives.IndexOfMax(scores);
                units.Add((Labels[best], scores[best], word[0].Start, word[^1].End, word[0].Index));
                i = j;
            }
        }
        if (aggregation == AggregationStrategy.None)
            return [.. units.Where(u => u.Tag != "O").Select(u => new TokenEntity(u.Tag, u.Score, text[u.Start..u.End], u.Start, u.End, u.Index))];

        // Join a unit to the group before it when the type is the same and it is not a B- tag; drop O groups.
        var entities = new List<TokenEntity>();
        int groupStart = 0;
        for (int i = 1; i <= units.Count; i++)
        {
            if (i < units.Count && Type(units[i].Tag) == Type(units[i - 1].Tag) && !units[i].Tag.StartsWith("B-", StringComparison.Ordinal)) continue;
            if (i > groupStart && Type(units[groupStart].Tag) is var type && type != "O")
            {
                var group = units.GetRange(groupStart, i - groupStart);
                int start = group[0].Start, end = group[^1].End;
                entities.Add(new TokenEntity(type, group.Average(u => u.Score), text[start..end], start, end));
            }
            groupStart = i;
        }
        return entities;
    }

    // The type of a tag: what follows B- or I-, else the whole tag (as HF, which reads an untyped tag as a continuation).
    private static string Type(string tag) => tag.StartsWith("B-", StringComparison.Ordinal) || tag.StartsWith("I-", StringComparison.Ordinal) ? tag[2..] : tag;
}
