namespace BertSharp.Evaluation;

/// <summary>Single-number classification metrics.</summary>
public static class Metrics
{
    /// <summary>The share of predictions equal to the true label.</summary>
    /// <exception cref="ArgumentException">The lengths differ or are zero.</exception>
    public static double Accuracy(ReadOnlySpan<int> yTrue, ReadOnlySpan<int> yPred)
    {
        if (yTrue.Length != yPred.Length)
            throw new ArgumentException($"{yTrue.Length} true labels but {yPred.Length} predictions");
        if (yTrue.IsEmpty)
            throw new ArgumentException("no examples to score");
        int right = 0;
        for (int i = 0; i < yTrue.Length; i++)
        {
            if (yTrue[i] == yPred[i]) right++;
        }
        return (double)right / yTrue.Length;
    }

    /// <summary>
    /// The area under the ROC curve of a binary classifier (scikit-learn's <c>roc_auc_score</c>):
    /// the probability that a random positive scores above a random negative, ties counting one half.
    /// Computed from ranks (Mann–Whitney U, tied scores sharing their average rank), which equals the
    /// trapezoid area under the ROC curve.
    /// </summary>
    /// <param name="yTrue">The true labels: 1 for positive, 0 for negative.</param>
    /// <param name="scores">The scores of the positive class (probabilities, logits: any increasing scale).</param>
    /// <exception cref="ArgumentException">The lengths differ, a label is not 0 or 1, a score is NaN, or only one class is present.</exception>
    public static double RocAuc(ReadOnlySpan<int> yTrue, ReadOnlySpan<double> scores)
    {
        if (yTrue.Length != scores.Length)
            throw new ArgumentException($"{yTrue.Length} true labels but {scores.Length} scores");
        int n = yTrue.Length;
        var order = new int[n];
        var keys = new double[n];
        long positives = 0;
        for (int i = 0; i < n; i++)
        {
            if (yTrue[i] is not (0 or 1))
                throw new ArgumentException($"ROC-AUC needs labels 0 and 1; found {yTrue[i]} at index {i}", nameof(yTrue));
            if (double.IsNaN(scores[i]))
                throw new ArgumentException($"the score at index {i} is NaN", nameof(scores));
            positives += yTrue[i];
            order[i] = i;
            keys[i] = scores[i];
        }
        long negatives = n - positives;
        if (positives == 0 || negatives == 0)
            throw new ArgumentException("ROC-AUC is undefined when only one class is present in the true labels", nameof(yTrue));

        Array.Sort(keys, order);
        // Sum of the 1-based ranks of the positives, a run of tied scores sharing its average rank.
        double rankSum = 0;
        for (int start = 0; start < n;)
        {
            int end = start + 1;
            while (end < n && keys[end] == keys[start]) end++;
            double averageRank = (start + 1 + end) / 2.0;
            for (int j = start; j < end; j++)
            {
                if (yTrue[order[j]] == 1) rankSum += averageRank;
            }
            start = end;
        }
        return (rankSum - positives * (positives + 1) / 2.0) / ((double)positives * negatives);
    }

    /// <inheritdoc cref="RocAuc(ReadOnlySpan{int}, ReadOnlySpan{double})"/>
    public static double RocAuc(ReadOnlySpan<int> yTrue, ReadOnlySpan<float> scores)
    {
        var wide = new double[scores.Length];
        for (int i = 0; i < scores.Length; i++) wide[i] = scores[i];
        return RocAuc(yTrue, wide);
    }
}
