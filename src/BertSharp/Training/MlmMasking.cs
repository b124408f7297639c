using BertSharp.Data;
using BertSharp.Model;

namespace BertSharp.Training;

/// <summary>
/// BERT's masking (HF's <c>DataCollatorForLanguageModeling</c>): each maskable token is chosen with probability
/// <see cref="Probability"/> (0.15); a chosen token becomes [MASK] 80% of the time, a uniformly random vocabulary
/// id 10%, and stays itself 10%, and its label is its original id (every other label is the ignore index).
/// Special tokens ([CLS], [SEP], [PAD], [UNK], [MASK]) and padding are never chosen. With whole-word masking a word's
/// pieces (a token and the <c>##</c> pieces after it) are chosen together (HF's <c>DataCollatorForWholeWordMask</c>
/// chooses words, then replaces each chosen token 80/10/10).
/// </summary>
internal sealed class MlmMasking
{
    private readonly bool[] _special;
    private readonly bool[] _continuation;

    /// <param name="vocabSize">The number of ids a random replacement draws from.</param>
    /// <param name="maskId">The [MASK] token's id.</param>
    /// <param name="specialIds">Ids never masked.</param>
    /// <param name="continuation">Per id, whether it is a word piece that continues a word (<c>##…</c>), for whole-word masking.</param>
    /// <param name="probability">The share of maskable tokens chosen.</param>
    /// <param name="wholeWord">Choose whole words.</param>
    public MlmMasking(int vocabSize, int maskId, IEnumerable<int> specialIds, bool[] continuation, double probability = 0.15, bool wholeWord = false)
    {
        if (!(probability > 0 && probability < 1)) throw new ArgumentException($"mlm probability {probability}: must be in (0, 1)");
        VocabSize = vocabSize;
        MaskId = maskId;
        Probability = probability;
        WholeWord = wholeWord;
        _special = new bool[vocabSize];
        foreach (var id in specialIds) if ((uint)id < (uint)vocabSize) _special[id] = true;
        _continuation = continuation;
    }

    public int VocabSize { get; }
    public int MaskId { get; }
    public double Probability { get; }
    public bool WholeWord { get; }

    /// <summary>
    /// Masks <paramref name="ids"/> (B·T, padded; <paramref name="attentionMask"/> 0 at padding) in place and returns
    /// the labels (B·T). <paramref name="rng"/> decides everything, so the same generator state masks the same way.
    /// </summary>
    public int[] Apply(int[] ids, int[] attentionMask, ref SplitMix64 rng)
    {
        var labels = new int[ids.Length];
        Array.Fill(labels, BertPreTrainedModel.IgnoreIndex);
        bool previousChosen = false, previousMaskable = false;
        for (int i = 0; i < ids.Length; i++)
        {
            int id = ids[i];
            if (attentionMask[i] == 0 || _special[id])
            {
                previousChosen = previousMaskable = false;
                continue;
            }
            // A continuation piece follows its word's first piece under whole-word masking; it draws nothing.
            // (The previous token is judged by what it was, not by what masking made of it.)
            bool chosen = WholeWord && _continuation[id] && previousMaskable ? previousChosen : Uniform(ref rng) < Probability;
            previousChosen = chosen;
            previousMaskable = true;
            if (!chosen) continue;
            labels[i] = id;
            double r = Uniform(ref rng);
            if (r < 0.8) ids[i] = MaskId;
            else if (r < 0.9) ids[i] = rng.NextInt(VocabSize);
        }
        return labels;
    }

    private static double Uniform(ref SplitMix64 rng) => (rng.Next() >> 11) * (1.0 / (1UL << 53));
}
