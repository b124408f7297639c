using System.Numerics.Tensors;
using System.Text.RegularExpressions;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Text;

namespace BertSharp.Inference;

/// <summary>One candidate for a masked position, as Hugging Face's fill-mask pipeline reports it.</summary>
/// <param name="Score">Its probability (softmax over the whole vocabulary).</param>
/// <param name="TokenId">The vocabulary id.</param>
/// <param name="Token">The token as the vocabulary spells it (<c>##</c> for a word piece).</param>
/// <param name="Sequence">The text with this mask filled by the token (other masks left as [MASK]).</param>
public sealed record FillMaskCandidate(float Score, int TokenId, string Token, string Sequence);

/// <summary>The candidates for each [MASK] of one text, in the order the masks appear.</summary>
/// <param name="Text">The input text.</param>
/// <param name="Masks">Per mask, the candidates, most probable first.</param>
public sealed record FillMaskResult(string Text, IReadOnlyList<IReadOnlyList<FillMaskCandidate>> Masks);

/// <summary>
/// The fill-mask pipeline: a masked-LM directory (BertForMaskedLM or BertForPreTraining) predicts the tokens hidden
/// behind each <c>[MASK]</c> of a text, with probabilities, the top k or the chosen targets only. <c>[mask]</c> and
/// <c>&lt;mask&gt;</c> in any case count as the mask token. Safe to call from several threads.
/// </summary>
public sealed partial class FillMaskPipeline : Pipeline
{
    internal FillMaskPipeline(PretrainedModel pretrained, IModelRuntime runtime) : base(pretrained, runtime)
    {
        MaskId = Tokenizer.MaskId ?? throw new InvalidDataException($"{pretrained.Source}: the vocabulary has no [MASK] token");
        MaskToken = Tokenizer.Vocabulary[MaskId];
    }

    /// <summary>The mask token's id.</summary>
    public int MaskId { get; }

    /// <summary>The mask token as the vocabulary spells it (<c>[MASK]</c>).</summary>
    public string MaskToken { get; }

    /// <summary>Loads a masked-LM directory to run on the given engine.</summary>
    /// <exception cref="InvalidDataException">The directory holds another task's model.</exception>
    public static new FillMaskPipeline Load(string directory, InferenceRuntime runtime = InferenceRuntime.Managed, int threads = 0)
    {
        var pipeline = Pipeline.Load(directory, runtime, threads);
        if (pipeline is FillMaskPipeline fill) return fill;
        pipeline.Dispose();
        throw new InvalidDataException($"{directory}: the model is a {pipeline.Config.Architectures?.FirstOrDefault()}, not a masked language model " +
            "(BertForMaskedLM or BertForPreTraining; make one with 'bertsharp pretrain')");
    }

    /// <summary>
    /// The vocabulary id of each target word, or null where the vocabulary lacks it as one token (the tokenizer would
    /// split it into pieces, so the model cannot put it behind one mask). Words are lower-cased when the tokenizer is.
    /// </summary>
    public int?[] TargetIds(IReadOnlyList<string> targets)
    {
        ArgumentNullException.ThrowIfNull(targets);
        return [.. targets.Select(t => Tokenizer.Vocabulary.TryGetId(Tokenizer.Options.DoLowerCase ? t.Trim().ToLowerInvariant() : t.Trim()))];
    }

    /// <summary>How many masks of <paramref name="text"/> the model sees (those within its maximum length).</summary>
    public int CountMasks(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Tokenizer.Encode(NormalizeMasks(text), null, new EncodeOptions { MaxLength = MaxLength }).Ids.Count(id => id == MaskId);
    }

    /// <summary>Fills the masks of one text.</summary>
    public FillMaskResult Fill(string text, int topK = 5, IReadOnlyList<string>? targets = null) => FillBatch([text], topK, targets)[0];

    /// <summary>
    /// Fills the masks of many texts, batched by length: per text, per mask, the <paramref name="topK"/> most probable
    /// tokens, or with <paramref name="targets"/> those words alone (each's probability over the whole vocabulary;
    /// targets missing from the vocabulary are left out, see <see cref="TargetIds"/>).
    /// </summary>
    /// <exception cref="ArgumentException">A text has no mask, a mask falls beyond the model's length, or no target is in the vocabulary.</exception>
    public IReadOnlyList<FillMaskResult> FillBatch(IReadOnlyList<string> texts, int topK = 5, IReadOnlyList<string>? targets = null, int batchSize = 32)
    {
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentOutOfRangeException.ThrowIfLessThan(topK, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        int[]? targetIds = null;
        if (targets is not null)
        {
            targetIds = [.. TargetIds(targets).Where(id => id is not null).Select(id => id!.Value).Distinct()];
            if (targetIds.Length == 0)
                throw new ArgumentException($"none of the targets ({string.Join(", ", targets)}) is a single token of the model's vocabulary");
        }
        var encodings = new TokenEncoding[texts.Count];
        var masks = new int[texts.Count][];
        for (int i = 0; i < texts.Count; i++)
        {
            var text = texts[i] ?? throw new ArgumentException($"text {i} is null");
            encodings[i] = Tokenizer.Encode(NormalizeMasks(text), null, new EncodeOptions { MaxLength = MaxLength });
            masks[i] = [.. Enumerable.Range(0, encodings[i].Length).Where(t => encodings[i].Ids[t] == MaskId)];
            if (masks[i].Length == 0)
            {
                // The text itself, not an encoding: one without a length cuts at 512 too, and a [MASK] after 2,000 words was
                // "has no [MASK] to fill".
                bool any = NormalizeMasks(text).Contains(MaskToken, StringComparison.Ordinal);
                throw new ArgumentException(!any
                    ? $"text {i} has no {MaskToken} to fill: \"{Clip(text)}\""
                    : $"text {i}: its {MaskToken} lies beyond the model's {MaxLength} tokens");
            }
        }
        var results = new FillMaskResult[texts.Count];
        foreach (var (input, rows) in Batches(encodings, batchSize))
        {
            int T = input.SequenceLength, V = Config.VocabSize;
            var positions = new List<int>();
            foreach (var (r, row) in rows.Index()) positions.AddRange(masks[row].Select(t => r * T + t));
            float[] logits;
            if (Engine is ManagedRuntime { Model: BertMaskedLanguageModel mlm })
            {
                logits = mlm.MaskedLogits(input, positions);
            }
            else
            {
                var all = Run(input);
                logits = new float[positions.Count * V];
                for (int p = 0; p < positions.Count; p++) all.AsSpan(positions[p] * V, V).CopyTo(logits.AsSpan(p * V, V));
            }
            int next = 0;
            foreach (var row in rows)
            {
                var perMask = new List<IReadOnlyList<FillMaskCandidate>>();
                foreach (var t in masks[row])
                {
                    var probabilities = logits.AsSpan(next++ * V, V);
                    TensorPrimitives.SoftMax(probabilities, probabilities);
                    perMask.Add(Candidates(probabilities, encodings[row], t, topK, targetIds));
                }
                results[row] = new FillMaskResult(texts[row], perMask);
            }
        }
        return results;
    }

    private List<FillMaskCandidate> Candidates(ReadOnlySpan<float> probabilities, TokenEncoding encoding, int position, int topK, int[]? targetIds)
    {
        IEnumerable<int> ids = targetIds ?? Enumerable.Range(0, probabilities.Length);
        var scores = probabilities.ToArray();
        var best = ids.OrderByDescending(id => scores[id]).ThenBy(id => id).Take(topK);
        var result = new List<FillMaskCandidate>();
        foreach (var id in best)
        {
            var filled = (int[])encoding.Ids.Clone();
            filled[position] = id;
            var sequence = Tokenizer.Decode(filled.Where((x, i) => i == position || (x != Tokenizer.ClsId && x != Tokenizer.SepId)));
            result.Add(new FillMaskCandidate(scores[id], id, Tokenizer.Vocabulary[id], sequence));
        }
        return result;
    }

    // The spec writes masks as [mask] and <mask>; the tokenizer knows only its own [MASK].
    private string NormalizeMasks(string text) => MaskPattern().Replace(text, MaskToken);

    [GeneratedRegex(@"\[mask\]|<mask>", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex MaskPattern();

    private static string Clip(string text) => text.Length <= 80 ? text : text[..77] + "...";
}
