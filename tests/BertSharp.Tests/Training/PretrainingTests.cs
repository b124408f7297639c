using BertSharp.Data;
using BertSharp.Model;
using BertSharp.Text;
using BertSharp.Training;

namespace BertSharp.Tests.Training;

public class PretrainingTests
{
    private const int Vocab = 1000, Mask = 4;
    private static readonly int[] Special = [0, 1, 2, 3, Mask];

    [Fact]
    public void MaskingChoosesFifteenPercentAndSplitsThemEightyTenTenNeverTouchingSpecialTokensOrPadding()
    {
        var masking = new MlmMasking(Vocab, Mask, Special, new bool[Vocab]);
        var rng = new Random(1);
        long maskable = 0, chosen = 0, toMask = 0, kept = 0, replaced = 0;
        var generator = new SplitMix64(7);
        for (int batch = 0; batch < 200; batch++)
        {
            // 8 rows of 64: [CLS] text [SEP] then padding, with the odd special token inside the text.
            int B = 8, T = 64;
            var ids = new int[B * T];
            var attention = new int[B * T];
            for (int b = 0; b < B; b++)
            {
                int length = rng.Next(10, T + 1);
                for (int t = 0; t < length; t++)
                {
                    ids[b * T + t] = t == 0 ? 2 : t == length - 1 ? 3 : rng.Next(10) == 0 ? Special[rng.Next(Special.Length)] : rng.Next(5, Vocab);
                    attention[b * T + t] = 1;
                }
            }
            var original = (int[])ids.Clone();
            var labels = masking.Apply(ids, attention, ref generator);
            for (int i = 0; i < ids.Length; i++)
            {
                bool canMask = attention[i] == 1 && !Special.Contains(original[i]);
                if (!canMask)
                {
                    Assert.Equal(BertPreTrainedModel.IgnoreIndex, labels[i]);
                    Assert.Equal(original[i], ids[i]);
                    continue;
                }
                maskable++;
                if (labels[i] == BertPreTrainedModel.IgnoreIndex)
                {
                    Assert.Equal(original[i], ids[i]);
                    continue;
                }
                Assert.Equal(original[i], labels[i]);
                chosen++;
                if (ids[i] == Mask) toMask++;
                else if (ids[i] == original[i]) kept++;
                else replaced++;
            }
        }
        // Binomial bounds at 5 standard deviations: p = 0.15 of maskable tokens; then 0.8 / 0.1 / 0.1 of the chosen
        // (a random replacement lands on [MASK] or on the original with probability 1/1000 each).
        AssertShare(chosen, maskable, 0.15);
        AssertShare(toMask, chosen, 0.8 + 0.1 / Vocab);
        AssertShare(kept, chosen, 0.1 + 0.1 / Vocab);
        AssertShare(replaced, chosen, 0.1 - 0.2 / Vocab);
    }

    private static void AssertShare(long count, long total, double p)
    {
        double sd = Math.Sqrt(p * (1 - p) / total), share = (double)count / total;
        Assert.True(Math.Abs(share - p) < 5 * sd, $"{count}/{total} = {share:F4}, expected {p:F4} ± {5 * sd:F4}");
    }

    [Fact]
    public void WholeWordMaskingChoosesEveryPieceOfAWordTogether()
    {
        var continuation = new bool[Vocab];
        for (int i = 500; i < Vocab; i++) continuation[i] = true; // ids ≥ 500 play "##…" pieces
        var masking = new MlmMasking(Vocab, Mask, Special, continuation, wholeWord: true);
        var rng = new Random(2);
        var generator = new SplitMix64(3);
        long words = 0, chosenWords = 0;
        for (int round = 0; round < 300; round++)
        {
            var ids = new List<int> { 2 };
            while (ids.Count < 100)
            {
                ids.Add(rng.Next(5, 500));
                for (int k = rng.Next(3); k > 0; k--) ids.Add(rng.Next(500, Vocab));
            }
            ids.Add(3);
            var array = ids.ToArray();
            var labels = masking.Apply(array, Enumerable.Repeat(1, array.Length).ToArray(), ref generator);
            for (int i = 1; i < ids.Count - 1; i++)
            {
                if (continuation[ids[i]])
                {
                    Assert.Equal(labels[i - 1] != BertPreTrainedModel.IgnoreIndex, labels[i] != BertPreTrainedModel.IgnoreIndex);
                    continue;
                }
                words++;
                if (labels[i] != BertPreTrainedModel.IgnoreIndex) chosenWords++;
            }
        }
        AssertShare(chosenWords, words, 0.15);
    }

    private static BertTokenizer Tokenizer() => BertTokenizer.FromBuiltIn();

    private static TextCorpus Corpus() => new(
        Enumerable.Range(0, 12).Select(d => (IReadOnlyList<string>)Enumerable.Range(0, 6)
            .Select(s => $"document {d} sentence {s} says something about the film and its actors .").ToList()));

    [Fact]
    public void PackedSequencesKeepEveryTokenInOrderAndFitTheMaximumLength()
    {
        var tokenizer = Tokenizer();
        var task = new PretrainingTask(tokenizer, tokenizer.Vocabulary.Count, nextSentence: false, wholeWord: false, 0.15, seed: 1);
        var corpus = Corpus();
        var examples = task.Encode(corpus, tokenizer, 32);
        Assert.All(examples, e =>
        {
            Assert.InRange(e.InputIds.Length, 3, 32);
            Assert.Equal(tokenizer.ClsId, e.InputIds[0]);
            Assert.Equal(tokenizer.SepId, e.InputIds[^1]);
        });
        Assert.All(examples.SkipLast(1), e => Assert.True(e.InputIds.Length >= 31));
        var text = examples.SelectMany(e => e.InputIds).Where(id => id != tokenizer.ClsId && id != tokenizer.SepId).ToArray();
        var expected = Enumerable.Range(0, corpus.Count).SelectMany(d => corpus[d]).SelectMany(s => tokenizer.Encode(s, null, new EncodeOptions { AddSpecialTokens = false }).Ids);
        Assert.Equal(expected, text);
    }

    [Fact]
    public void SentencePairsAreHalfTrueContinuationsWithSegmentIds()
    {
        var tokenizer = Tokenizer();
        var task = new PretrainingTask(tokenizer, tokenizer.Vocabulary.Count, nextSentence: true, wholeWord: false, 0.15, seed: 1);
        var documents = Enumerable.Range(0, 200).Select(d => (IReadOnlyList<string>)Enumerable.Range(0, 4).Select(s => $"doc{d} line{s} .").ToList());
        // Long enough that no pair is trimmed, so each segment still starts with its document's name.
        var examples = task.Encode(new TextCorpus(documents), tokenizer, 64);
        int isNext = 0;
        foreach (var e in examples)
        {
            int sep = Array.IndexOf(e.InputIds, tokenizer.SepId);
            Assert.All(e.TokenTypeIds.Take(sep + 1), t => Assert.Equal(0, t));
            Assert.All(e.TokenTypeIds.Skip(sep + 1), t => Assert.Equal(1, t));
            var a = tokenizer.Decode(e.InputIds[1..sep]);
            var b = tokenizer.Decode(e.InputIds[(sep + 1)..^1]);
            string Doc(string s) => s.Split(' ')[0];
            if (e.Label == 0)
            {
                isNext++;
                Assert.Equal(Doc(a), Doc(b));
            }
            else
            {
                Assert.NotEqual(Doc(a), Doc(b));
            }
        }
        AssertShare(isNext, examples.Count, 0.5);
    }

    [Fact]
    public void CollateMasksTheSameBatchTheSameWayAndAnotherOrderDifferently()
    {
        var tokenizer = Tokenizer();
        var task = new PretrainingTask(tokenizer, tokenizer.Vocabulary.Count, nextSentence: false, wholeWord: false, 0.15, seed: 5);
        var examples = task.Encode(Corpus(), tokenizer, 32);
        int[] order = [0, 1, 2, 3];
        var first = task.Collate(examples, order, tokenizer.PadId);
        var again = task.Collate(examples, order, tokenizer.PadId);
        Assert.Equal(first.Labels, again.Labels);
        Assert.Equal(first.Input.InputIds, again.Input.InputIds);
        // The same examples in another epoch's order are masked afresh.
        var other = task.Collate(examples, [3, 2, 1, 0], tokenizer.PadId);
        int T = first.Input.SequenceLength;
        bool differs = false;
        for (int b = 0; b < 4; b++)
            differs |= !first.Labels.AsSpan(b * T, T).SequenceEqual(other.Labels.AsSpan((3 - b) * T, T));
        Assert.True(differs);
    }
}
