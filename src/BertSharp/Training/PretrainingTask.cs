using BertSharp.Data;
using BertSharp.Evaluation;
using BertSharp.Inference;
using BertSharp.Model;
using BertSharp.Text;

namespace BertSharp.Training;

/// <summary>
/// Pre-training data and scoring: a <see cref="TextCorpus"/> becomes sequences packed to the maximum length, masked
/// afresh for every batch (dynamic masking), and with next-sentence prediction sentence pairs (50% the true next
/// segment of the same document, 50% a segment of another). Scores: masked-LM loss, perplexity and masked-token
/// accuracy, and next-sentence accuracy.
/// </summary>
internal sealed class PretrainingTask : TaskAdapter
{
    private readonly MlmMasking _masking;
    private readonly bool _nextSentence;
    private readonly int _seed;

    public PretrainingTask(BertTokenizer tokenizer, int vocabSize, bool nextSentence, bool wholeWord, double probability, int seed)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        int maskId = tokenizer.MaskId ?? throw new InvalidDataException($"{tokenizer.Vocabulary.Count}-token vocabulary: it has no [MASK] token, which masked-LM pre-training needs");
        var vocab = tokenizer.Vocabulary;
        if (vocab.Count > vocabSize)
            throw new InvalidDataException($"the vocabulary has {vocab.Count} tokens but the model's vocab_size is {vocabSize}");
        var continuation = new bool[vocabSize];
        for (int i = 0; i < vocab.Count; i++) continuation[i] = vocab[i].StartsWith(Vocabulary.ContinuationPrefix, StringComparison.Ordinal);
        int[] special = [tokenizer.ClsId, tokenizer.SepId, tokenizer.UnkId, tokenizer.PadId, maskId];
        _masking = new MlmMasking(vocabSize, maskId, special, continuation, probability, wholeWord);
        _nextSentence = nextSentence;
        _seed = seed;
    }

    public override IReadOnlyList<string> MetricNames =>
        _nextSentence ? ["masked_accuracy", "perplexity", "mlm_loss", "nsp_accuracy"] : ["masked_accuracy", "perplexity", "mlm_loss"];

    public override string DefaultMetric => "loss";

    public override bool LowerIsBetter(string metric) => metric is "loss" or "perplexity" or "mlm_loss";

    public override ITaskDataset Load(string path, DatasetLoadOptions options) => TextCorpus.Load(path, options);

    public override IReadOnlyList<EncodedExample> Encode(ITaskDataset data, BertTokenizer tokenizer, int maxLength)
    {
        if (data is not TextCorpus corpus)
            throw new ArgumentException($"{data.Source ?? "the data"}: pre-training reads a text corpus (TextCorpus)");
        if (maxLength < 8) throw new ArgumentException($"--max-length {maxLength}: pre-training needs at least 8 tokens per sequence");
        var plain = new EncodeOptions { AddSpecialTokens = false };
        // Every sentence's word pieces, document by document.
        var documents = new int[corpus.Count][][];
        for (int d = 0; d < corpus.Count; d++)
        {
            var sentences = corpus[d];
            documents[d] = new int[sentences.Count][];
            for (int s = 0; s < sentences.Count; s++) documents[d][s] = tokenizer.Encode(sentences[s], null, plain).Ids;
        }
        return _nextSentence ? SentencePairs(documents, tokenizer, maxLength) : Packed(documents, tokenizer, maxLength);
    }

    // MLM alone: the corpus as one stream of pieces, documents separated by [SEP], cut into [CLS] … [SEP] sequences of
    // maxLength (HF's run_mlm groups texts the same way), so no position is spent on padding.
    private static List<EncodedExample> Packed(int[][][] documents, BertTokenizer tokenizer, int maxLength)
    {
        var result = new List<EncodedExample>();
        var current = new List<int>(maxLength) { tokenizer.ClsId };
        void Flush()
        {
            if (current.Count > 1)
            {
                if (current[^1] != tokenizer.SepId) current.Add(tokenizer.SepId);
                result.Add(new EncodedExample([.. current], new int[current.Count], [], []));
            }
            current = new List<int>(maxLength) { tokenizer.ClsId };
        }
        foreach (var document in documents)
        {
            foreach (var sentence in document)
                foreach (var id in sentence)
                {
                    if (current.Count == maxLength - 1) Flush();
                    current.Add(id);
                }
            if (current.Count > 1 && current.Count < maxLength - 1) current.Add(tokenizer.SepId);
        }
        Flush();
        return result;
    }

    // Next-sentence prediction, as Google's create_pretraining_data.py: a document's sentences gathered into chunks of
    // up to maxLength − 3 pieces; a chunk splits at a random sentence boundary into A and B, and half the time B is
    // replaced by sentences from a random other document (label 1, "random"; 0 when B is the true continuation).
    private List<EncodedExample> SentencePairs(int[][][] documents, BertTokenizer tokenizer, int maxLength)
    {
        if (documents.Length < 2) throw new InvalidDataException("next-sentence prediction needs at least two documents to draw random segments from");
        int budget = maxLength - 3;
        var rng = new SplitMix64((ulong)_seed ^ 0x5EED_0F_4E57UL);
        var result = new List<EncodedExample>();
        for (int d = 0; d < documents.Length; d++)
        {
            var doc = documents[d];
            int s = 0;
            while (s < doc.Length)
            {
                var chunk = new List<int[]>();
                int length = 0;
                while (s < doc.Length && (chunk.Count == 0 || length + doc[s].Length <= budget))
                {
                    chunk.Add(doc[s]);
                    length += doc[s].Length;
                    s++;
                }
                int aEnd = chunk.Count >= 2 ? 1 + rng.NextInt(chunk.Count - 1) : 1;
                var a = chunk.Take(aEnd).SelectMany(x => x).ToList();
                List<int> b;
                int label;
                if (chunk.Count == 1 || rng.NextInt(2) == 1)
                {
                    label = 1;
                    int other = rng.NextInt(documents.Length - 1);
                    if (other >= d) other++;
                    var otherDoc = documents[other];
                    b = otherDoc.Skip(rng.NextInt(otherDoc.Length)).SelectMany(x => x).Take(budget).ToList();
                    // The unused sentences of this chunk go back to the document, as Google's script does.
                    if (chunk.Count > 1) s -= chunk.Count - aEnd;
                }
                else
                {
                    label = 0;
                    b = chunk.Skip(aEnd).SelectMany(x => x).ToList();
                }
                // Trim the longer side, from a random end, until the pair fits.
                while (a.Count + b.Count > budget)
                {
                    var longer = a.Count >= b.Count ? a : b;
                    longer.RemoveAt(rng.NextInt(2) == 0 ? 0 : longer.Count - 1);
                }
                if (a.Count == 0 || b.Count == 0) continue;
                int[] ids = [tokenizer.ClsId, .. a, tokenizer.SepId, .. b, tokenizer.SepId];
                var types = new int[ids.Length];
                for (int i = a.Count + 2; i < ids.Length; i++) types[i] = 1;
                result.Add(new EncodedExample(ids, types, [label], []));
            }
        }
        return result;
    }

    // Dynamic masking: each batch is masked afresh by a generator seeded from the run's seed and the batch's example
    // indices. The trainer draws a new order every epoch, so an example is masked differently each time it comes
    // back, while a resumed run (same seed, same order) masks every batch exactly as the interrupted one would have.
    public override TaskBatch Collate(IReadOnlyList<EncodedExample> examples, ReadOnlySpan<int> indices, int padId)
    {
        var ids = new int[indices.Length][];
        var types = new int[indices.Length][];
        ulong key = (ulong)_seed * 0x9E3779B97F4A7C15UL + 0x4D4C4DUL;
        for (int b = 0; b < indices.Length; b++)
        {
            ids[b] = examples[indices[b]].InputIds;
            types[b] = examples[indices[b]].TokenTypeIds;
            key = (key ^ (ulong)indices[b]) * 0xBF58476D1CE4E5B9UL + (ulong)b;
        }
        var input = DynamicPadding.Pad(ids, types, padId);
        var masked = (int[])input.InputIds.Clone();
        var rng = new SplitMix64(key);
        var labels = _masking.Apply(masked, input.AttentionMask, ref rng);
        if (_nextSentence) labels = [.. labels, .. indices.ToArray().Select(i => examples[i].Labels[0])];
        return new TaskBatch { Input = new BertInput(input.BatchSize, input.SequenceLength, masked, input.TokenTypeIds, input.AttentionMask), Labels = labels };
    }

    // Labels are a token's per position, then (with next-sentence prediction) one per sequence: two blocks to cut.
    public override TaskBatch Rows(TaskBatch batch, int start, int count)
    {
        if (!_nextSentence) return base.Rows(batch, start, count);
        int B = batch.Input.BatchSize, N = B * batch.Input.SequenceLength;
        var tokens = Slice(batch, start, count, N, 0);
        return new TaskBatch { Input = tokens.Input, Labels = [.. tokens.Labels, .. batch.Labels.AsSpan(N + start, count)] };
    }

    public override (IEvaluationReport Report, double Loss) Evaluate(IModelRuntime model, IReadOnlyList<EncodedExample> data, int batchSize, int padId)
    {
        var order = ByLength(data);
        double nll = 0, nspNll = 0;
        long masked = 0, correct = 0, nspCorrect = 0, nspCount = 0;
        var mlm = (model as ManagedRuntime)?.Model as BertMaskedLanguageModel;
        for (int start = 0; start < data.Count; start += batchSize)
        {
            int count = Math.Min(batchSize, data.Count - start);
            var batch = Collate(data, order.AsSpan(start, count), padId);
            int B = batch.Input.BatchSize, N = B * batch.Input.SequenceLength;
            var rows = Enumerable.Range(0, N).Where(i => batch.Labels[i] != BertPreTrainedModel.IgnoreIndex).ToArray();
            float[] logits;
            float[]? nsp = _nextSentence && mlm is { HasNextSentenceHead: true } ? new float[B * 2] : null;
            int V;
            if (mlm is not null)
            {
                // The managed model scores only the masked rows.
                logits = mlm.Score(batch.Input, rows, nsp);
                V = mlm.VocabSize;
            }
            else
            {
                var all = model.Run(batch.Input);
                V = all.Length / N;
                logits = new float[rows.Length * V];
                for (int r = 0; r < rows.Length; r++) all.AsSpan(rows[r] * V, V).CopyTo(logits.AsSpan(r * V, V));
            }
            for (int r = 0; r < rows.Length; r++)
            {
                var z = logits.AsSpan(r * V, V);
                int y = batch.Labels[rows[r]];
                nll += NegativeLogLikelihood(z, y);
                if (System.Numerics.Tensors.TensorPrimitives.IndexOfMax(z) == y) correct++;
            }
            masked += rows.Length;
            if (nsp is null) continue;
            for (int b = 0; b < B; b++)
            {
                int y = batch.Labels[N + b];
                nspNll += NegativeLogLikelihood(nsp.AsSpan(b * 2, 2), y);
                if ((nsp[b * 2 + 1] > nsp[b * 2] ? 1 : 0) == y) nspCorrect++;
                nspCount++;
            }
        }
        var report = new PretrainingReport(masked, masked == 0 ? 0 : nll / masked, masked == 0 ? 0 : (double)correct / masked,
            nspCount == 0 ? null : (double)nspCorrect / nspCount, nspCount == 0 ? null : nspNll / nspCount);
        return (report, report.MlmLoss + (report.NspLoss ?? 0));
    }

    private static double NegativeLogLikelihood(ReadOnlySpan<float> z, int y)
    {
        double max = double.NegativeInfinity, sum = 0;
        foreach (var v in z) max = Math.Max(max, v);
        foreach (var v in z) sum += Math.Exp(v - max);
        return max + Math.Log(sum) - z[y];
    }
}
