using BertSharp.Text;

namespace BertSharp.QuestionAnswering;

/// <summary>How questions and contexts become windows, and how windows' logits become answers (Hugging Face's run_qa.py defaults).</summary>
public sealed record QaOptions
{
    /// <summary>Tokens per window, [CLS] and both [SEP] included (<c>--max_seq_length 384</c>).</summary>
    public int MaxLength { get; init; } = 384;

    /// <summary>Context tokens shared by consecutive windows (<c>--doc_stride 128</c>).</summary>
    public int DocStride { get; init; } = 128;

    /// <summary>A longer question is cut to this many tokens, so the context keeps room in every window.</summary>
    public int MaxQuestionLength { get; init; } = 64;

    /// <summary>Start and end candidates taken per window (<c>--n_best_size 20</c>).</summary>
    public int NBest { get; init; } = 20;

    /// <summary>The longest answer in tokens (<c>--max_answer_length 30</c>).</summary>
    public int MaxAnswerLength { get; init; } = 30;

    /// <summary>Checks the values against each other.</summary>
    /// <exception cref="ArgumentException">A value is out of range; the message names the option.</exception>
    public void Validate()
    {
        if (MaxLength < 8) throw new ArgumentException($"max length {MaxLength}: must be at least 8");
        if (MaxQuestionLength < 1) throw new ArgumentException($"max question length {MaxQuestionLength}: must be ≥ 1");
        int room = MaxLength - MaxQuestionLength - 3;
        if (room < 1) throw new ArgumentException($"max length {MaxLength} leaves no context tokens beside a {MaxQuestionLength}-token question");
        if (DocStride < 0 || DocStride >= room)
            throw new ArgumentException($"doc stride {DocStride}: must be at least 0 and below the {room} context tokens a window keeps beside the longest question");
        if (NBest < 1) throw new ArgumentException($"n-best {NBest}: must be ≥ 1");
        if (MaxAnswerLength < 1) throw new ArgumentException($"max answer length {MaxAnswerLength}: must be ≥ 1");
    }
}

/// <summary>
/// One window of one question over its context: ids, type ids, each context token's [start, end) in the context
/// (other tokens (-1, -1)) and, when the example has an answer, the answer's token start and end (both 0, the
/// [CLS] token, when this window does not hold the whole answer).
/// </summary>
public sealed record QaFeature(int ExampleIndex, int[] InputIds, int[] TypeIds, (int Start, int End)[] Offsets, int StartPosition, int EndPosition)
{
    /// <summary>Whether token <paramref name="i"/> is a context token.</summary>
    public bool IsContext(int i) => Offsets[i].Start >= 0;
}

/// <summary>An answer: its text, a score in [0, 1], and where it lies in the context ([Start, End) UTF-16 indices).</summary>
public sealed record QaAnswer(string Answer, float Score, int Start, int End);

/// <summary>The windows of run_qa.py's <c>prepare_train_features</c> / <c>prepare_validation_features</c>, and its post-processing.</summary>
public static class QaFeatures
{
    /// <summary>
    /// Every window of every example: the question (leading spaces stripped, cut to the maximum question length)
    /// and the context with <c>only_second</c> truncation and overflow windows <see cref="QaOptions.DocStride"/>
    /// tokens apart. The answer is the example's first gold answer, as run_qa.py trains on.
    /// </summary>
    public static List<QaFeature> Build(BertTokenizer tokenizer, IReadOnlyList<SquadExample> examples, QaOptions options)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var perExample = new List<QaFeature>[examples.Count];
        Parallel.For(0, examples.Count, i => perExample[i] = Build(tokenizer, examples[i], i, options));
        return [.. perExample.SelectMany(f => f)];
    }

    /// <summary>The windows of one example (see <see cref="Build(BertTokenizer, IReadOnlyList{SquadExample}, QaOptions)"/>).</summary>
    public static List<QaFeature> Build(BertTokenizer tokenizer, SquadExample example, int exampleIndex, QaOptions options)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(example);
        string question = CutQuestion(tokenizer, example.Question.TrimStart(), options.MaxQuestionLength);
        var encoding = tokenizer.Encode(question, example.Context, new EncodeOptions
        {
            MaxLength = options.MaxLength,
            Truncation = TruncationStrategy.OnlySecond,
            Stride = options.DocStride,
            ReturnOverflowing = true,
        });
        var answer = example.Answers.Count > 0 ? example.Answers[0] : null;
        var features = new List<QaFeature>(1 + encoding.Overflowing.Count);
        foreach (var window in encoding.Overflowing.Prepend(encoding))
            features.Add(Window(window, exampleIndex, answer));
        return features;
    }

    private static string CutQuestion(BertTokenizer tokenizer, string question, int maxTokens)
    {
        var alone = tokenizer.Encode(question, null, new EncodeOptions { AddSpecialTokens = false, Truncation = TruncationStrategy.DoNotTruncate });
        // Cut the text after its last kept token, so the window's question is exactly those tokens.
        return alone.Length <= maxTokens ? question : question[..alone.Offsets[maxTokens - 1].End];
    }

    private static QaFeature Window(TokenEncoding window, int exampleIndex, SquadAnswer? answer)
    {
        int n = window.Length;
        var types = window.TypeIds;
        var special = window.SpecialTokensMask;
        var offsets = new (int, int)[n];
        int first = -1, last = -1;
        for (int i = 0; i < n; i++)
        {
            bool context = types[i] == 1 && special[i] == 0;
            offsets[i] = context ? window.Offsets[i] : (-1, -1);
            if (!context) continue;
            if (first < 0) first = i;
            last = i;
        }
        int start = 0, end = 0;
        if (answer is not null && first >= 0)
        {
            int startChar = answer.Start, endChar = answer.Start + answer.Text.Length;
            // The window holds the answer when its context covers [startChar, endChar); then the answer's tokens are
            // the last one starting at or before startChar and the first one ending at or after endChar.
            if (offsets[first].Item1 <= startChar && offsets[last].Item2 >= endChar)
            {
                int s = first;
                while (s <= last && offsets[s].Item1 <= startChar) s++;
                int e = last;
                while (e >= first && offsets[e].Item2 >= endChar) e--;
                (start, end) = (s - 1, e + 1);
            }
        }
        return new QaFeature(exampleIndex, window.Ids, types, offsets, start, end);
    }

    /// <summary>
    /// The best answer of each example over all its windows (run_qa.py's <c>postprocess_qa_predictions</c>): in each
    /// window the <see cref="QaOptions.NBest"/> highest start and end logits, pairs inside the context with end ≥
    /// start and at most <see cref="QaOptions.MaxAnswerLength"/> tokens, ranked by start + end logit. The score is
    /// the span's probability in its window (softmax of start times softmax of end over the context tokens, as
    /// Hugging Face's pipeline reports). An example with no valid span gets an empty answer, score 0.
    /// </summary>
    /// <param name="examples">The examples the features were built from.</param>
    /// <param name="features">The windows.</param>
    /// <param name="logits">Per feature, its [tokens × 2] logits (start, end), at least as long as its ids.</param>
    /// <param name="options">n-best and maximum answer length.</param>
    /// <param name="topK">How many answers to keep per example, best first.</param>
    public static List<QaAnswer>[] PostProcess(IReadOnlyList<SquadExample> examples, IReadOnlyList<QaFeature> features,
        IReadOnlyList<float[]> logits, QaOptions options, int topK = 1)
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(options);
        if (logits.Count != features.Count) throw new ArgumentException($"{logits.Count} logit rows for {features.Count} features");
        var candidates = new List<(double Logit, QaAnswer Answer)>[examples.Count];
        for (int i = 0; i < candidates.Length; i++) candidates[i] = [];
        for (int f = 0; f < features.Count; f++)
        {
            var feature = features[f];
            var context = examples[feature.ExampleIndex].Context;
            var z = logits[f];
            int n = feature.InputIds.Length;
            if (z.Length < 2 * n) throw new ArgumentException($"feature {f} has {n} tokens but {z.Length / 2} logit pairs");
            var starts = Top(z, 0, n, options.NBest);
            var ends = Top(z, 1, n, options.NBest);
            double startNorm = LogSumContext(z, 0, feature), endNorm = LogSumContext(z, 1, feature);
            foreach (int s in starts)
                foreach (int e in ends)
                {
                    if (!feature.IsContext(s) || !feature.IsContext(e) || e < s || e - s + 1 > options.MaxAnswerLength) continue;
                    double logit = z[2 * s] + z[2 * e + 1];
                    float score = (float)Math.Exp(z[2 * s] - startNorm + z[2 * e + 1] - endNorm);
                    int from = feature.Offsets[s].Start, to = feature.Offsets[e].End;
                    candidates[feature.ExampleIndex].Add((logit, new QaAnswer(context[from..to], score, from, to)));
                }
        }
        var result = new List<QaAnswer>[examples.Count];
        for (int i = 0; i < result.Length; i++)
        {
            // Overlapping windows propose the same span twice; keep its best proposal.
            result[i] = [.. candidates[i].OrderByDescending(c => c.Logit).Select(c => c.Answer)
                .DistinctBy(a => (a.Start, a.End)).Take(topK)];
            if (result[i].Count == 0) result[i].Add(new QaAnswer("", 0f, 0, 0));
        }
        return result;
    }

    // Indices of the k largest of z[2·i + column] for i < n, largest first.
    private static int[] Top(float[] z, int column, int n, int k)
    {
        var index = Enumerable.Range(0, n).ToArray();
        Array.Sort(index, (a, b) => z[2 * b + column].CompareTo(z[2 * a + column]));
        return index[..Math.Min(k, n)];
    }

    private static double LogSumContext(float[] z, int column, QaFeature feature)
    {
        double max = double.NegativeInfinity;
        for (int i = 0; i < feature.InputIds.Length; i++)
            if (feature.IsContext(i)) max = Math.Max(max, z[2 * i + column]);
        double sum = 0;
        for (int i = 0; i < feature.InputIds.Length; i++)
            if (feature.IsContext(i)) sum += Math.Exp(z[2 * i + column] - max);
        return max + Math.Log(sum);
    }
}
