using System.Globalization;
using System.Text;
using System.Text.Json;

namespace BertSharp.Evaluation;

/// <summary>How entities are read from tag sequences, as seqeval's two modes.</summary>
public enum EntityMode
{
    /// <summary>
    /// seqeval's default (conlleval's rules): a chunk starts at B, or at I after O or after another type, and
    /// ends before B, O or a type change; so an entity may start with I.
    /// </summary>
    Default,

    /// <summary>seqeval's strict mode with the IOB2 scheme: an entity is B-X followed by I-X only; an I without its B is no entity.</summary>
    Strict,
}

/// <summary>One entity: its type and the first and last word (inclusive) in sentence <see cref="Sentence"/>.</summary>
/// <param name="Sentence">The sentence's index.</param>
/// <param name="Type">The entity type (PER, LOC…).</param>
/// <param name="Start">The entity's first word.</param>
/// <param name="End">The entity's last word (inclusive).</param>
public readonly record struct EntitySpan(int Sentence, string Type, int Start, int End);

/// <summary>
/// Entity-level scores as seqeval computes them: an entity counts as found only when a predicted entity has the
/// same type, start and end. Precision, recall and F1 per type and their micro, macro and weighted averages; token
/// accuracy (the share of words whose tag is exactly right); and an entity confusion table by span.
/// </summary>
public sealed class EntityReport : IEvaluationReport
{
    private const string None = "O";

    private EntityReport(IReadOnlyList<string> types, IReadOnlyList<ClassMetrics> perType, ClassMetrics micro, ClassMetrics macro, ClassMetrics weighted,
        double accuracy, EntityMode mode, long[,] confusion)
    {
        Types = types;
        PerType = perType;
        MicroAverage = micro;
        MacroAverage = macro;
        WeightedAverage = weighted;
        Accuracy = accuracy;
        Mode = mode;
        _confusion = confusion;
    }

    private readonly long[,] _confusion;

    /// <summary>The entity types found in the truth or the predictions, sorted.</summary>
    public IReadOnlyList<string> Types { get; }

    /// <summary>Precision, recall, F1 and support (true entities) of each type, in <see cref="Types"/> order.</summary>
    public IReadOnlyList<ClassMetrics> PerType { get; }

    /// <summary>Scores from the counts pooled over all types (seqeval's <c>f1_score</c> default).</summary>
    public ClassMetrics MicroAverage { get; }

    /// <summary>The unweighted mean of the per-type scores.</summary>
    public ClassMetrics MacroAverage { get; }

    /// <summary>The per-type scores weighted by support.</summary>
    public ClassMetrics WeightedAverage { get; }

    /// <summary>The share of words whose predicted tag equals the true one (seqeval's <c>accuracy_score</c>).</summary>
    public double Accuracy { get; }

    /// <summary>How entities were read.</summary>
    public EntityMode Mode { get; }

    /// <summary>
    /// Spans in the truth or the predictions, by true type (rows) and predicted type (columns), <see cref="Types"/>
    /// then <c>O</c> (no entity with exactly that span): the diagonal is found entities, the last column missed
    /// ones, the last row spurious ones.
    /// </summary>
    public long Confusion(int trueIndex, int predictedIndex) => _confusion[trueIndex, predictedIndex];

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, double> Metrics => new Dictionary<string, double>
    {
        ["f1"] = MicroAverage.F1,
        ["precision"] = MicroAverage.Precision,
        ["recall"] = MicroAverage.Recall,
        ["accuracy"] = Accuracy,
        ["macro_f1"] = MacroAverage.F1,
    };

    /// <summary>The entities of each sentence's tags, numbered by sentence.</summary>
    /// <exception cref="ArgumentException">Strict mode meets a tag that is not O, B-X or I-X.</exception>
    public static List<EntitySpan> Entities(IReadOnlyList<IReadOnlyList<string>> sentences, EntityMode mode = EntityMode.Default)
    {
        ArgumentNullException.ThrowIfNull(sentences);
        var result = new List<EntitySpan>();
        for (int s = 0; s < sentences.Count; s++)
        {
            if (mode == EntityMode.Default) DefaultEntities(sentences[s], s, result);
            else StrictEntities(sentences[s], s, result);
        }
        return result;
    }

    /// <summary>Scores predicted tag sequences against the true ones, sentence by sentence.</summary>
    /// <exception cref="ArgumentException">The sentence counts or lengths disagree, or there are no words.</exception>
    public static EntityReport Create(IReadOnlyList<IReadOnlyList<string>> yTrue, IReadOnlyList<IReadOnlyList<string>> yPred, EntityMode mode = EntityMode.Default)
    {
        ArgumentNullException.ThrowIfNull(yTrue);
        ArgumentNullException.ThrowIfNull(yPred);
        if (yTrue.Count != yPred.Count) throw new ArgumentException($"{yTrue.Count} true sentences but {yPred.Count} predicted");
        long words = 0, right = 0;
        for (int s = 0; s < yTrue.Count; s++)
        {
            if (yTrue[s].Count != yPred[s].Count)
                throw new ArgumentException($"sentence {s}: {yTrue[s].Count} true tags but {yPred[s].Count} predicted");
            for (int i = 0; i < yTrue[s].Count; i++, words++)
                if (yTrue[s][i] == yPred[s][i]) right++;
        }
        if (words == 0) throw new ArgumentException("no words to score");
        var truth = Entities(yTrue, mode);
        var predicted = Entities(yPred, mode);
        string[] types = [.. truth.Concat(predicted).Select(e => e.Type).Distinct().Order(StringComparer.Ordinal)];
        var index = types.Select((t, i) => (t, i)).ToDictionary(p => p.t, p => p.i);
        var trueSet = truth.ToHashSet();
        var predictedSet = predicted.ToHashSet();
        var perType = new ClassMetrics[types.Length];
        long tpAll = 0, predAll = 0, trueAll = 0;
        for (int k = 0; k < types.Length; k++)
        {
            long nTrue = trueSet.Count(e => e.Type == types[k]);
            long nPred = predictedSet.Count(e => e.Type == types[k]);
            long tp = trueSet.Count(e => e.Type == types[k] && predictedSet.Contains(e));
            perType[k] = Score(tp, nPred, nTrue);
            (tpAll, predAll, trueAll) = (tpAll + tp, predAll + nPred, trueAll + nTrue);
        }
        var micro = Score(tpAll, predAll, trueAll);
        var macro = types.Length == 0 ? new ClassMetrics(0, 0, 0, 0)
            : new ClassMetrics(perType.Average(m => m.Precision), perType.Average(m => m.Recall), perType.Average(m => m.F1), trueAll);
        double W(Func<ClassMetrics, double> f) => trueAll == 0 ? 0 : perType.Sum(m => f(m) * m.Support) / trueAll;
        var weighted = new ClassMetrics(W(m => m.Precision), W(m => m.Recall), W(m => m.F1), trueAll);

        // Confusion by span: each (sentence, start, end) that either side marks, with the type each side gives it.
        int o = types.Length;
        var confusion = new long[o + 1, o + 1];
        var trueBySpan = trueSet.ToDictionary(e => (e.Sentence, e.Start, e.End), e => index[e.Type]);
        var predBySpan = predictedSet.ToDictionary(e => (e.Sentence, e.Start, e.End), e => index[e.Type]);
        foreach (var span in trueBySpan.Keys.Union(predBySpan.Keys))
            confusion[trueBySpan.GetValueOrDefault(span, o), predBySpan.GetValueOrDefault(span, o)]++;
        return new EntityReport(types, perType, micro, macro, weighted, (double)right / words, mode, confusion);
    }

    /// <inheritdoc/>
    public string ToText(int digits = 4)
    {
        var inv = CultureInfo.InvariantCulture;
        string F(double v) => v.ToString("F" + digits, inv);
        int width = Math.Max(12, Types.Select(t => t.Length).DefaultIfEmpty(0).Max() + 2);
        int col = Math.Max(9, digits + 5);
        var sb = new StringBuilder();
        sb.Append(' ', width).Append("precision".PadLeft(col)).Append("recall".PadLeft(col)).Append("f1-score".PadLeft(col)).Append("support".PadLeft(col)).AppendLine().AppendLine();
        void Row(string name, ClassMetrics m) => sb.Append(name.PadLeft(width)).Append(F(m.Precision).PadLeft(col)).Append(F(m.Recall).PadLeft(col))
            .Append(F(m.F1).PadLeft(col)).Append(m.Support.ToString(inv).PadLeft(col)).AppendLine();
        for (int k = 0; k < Types.Count; k++) Row(Types[k], PerType[k]);
        sb.AppendLine();
        Row("micro avg", MicroAverage);
        Row("macro avg", MacroAverage);
        Row("weighted avg", WeightedAverage);
        sb.AppendLine().Append(inv, $"token accuracy {F(Accuracy)} (entities read in {(Mode == EntityMode.Strict ? "strict IOB2" : "default")} mode)").AppendLine();
        sb.AppendLine().AppendLine("entity confusion by span (rows: true type, columns: predicted; O = no entity with that span)");
        string[] names = [.. Types, None];
        int cw = Math.Max(7, names.Max(n => n.Length) + 2);
        sb.Append(' ', width);
        foreach (var n in names) sb.Append(n.PadLeft(cw));
        sb.AppendLine();
        for (int r = 0; r < names.Length; r++)
        {
            sb.Append(names[r].PadLeft(width));
            for (int c = 0; c < names.Length; c++) sb.Append((r == names.Length - 1 && c == names.Length - 1 ? "-" : _confusion[r, c].ToString(inv)).PadLeft(cw));
            sb.AppendLine();
        }
        return sb.ToString();
    }

    /// <inheritdoc/>
    public string ToJson(bool indented = true)
    {
        string[] names = [.. Types, None];
        var report = new Dictionary<string, object>
        {
            ["mode"] = Mode == EntityMode.Strict ? "strict" : "default",
            ["accuracy"] = Accuracy,
            ["types"] = Types.Select((t, k) => (t, k)).ToDictionary(p => p.t, p => (object)Json(PerType[p.k])),
            ["micro avg"] = Json(MicroAverage),
            ["macro avg"] = Json(MacroAverage),
            ["weighted avg"] = Json(WeightedAverage),
            ["confusion"] = new Dictionary<string, object>
            {
                ["labels"] = names,
                ["matrix"] = Enumerable.Range(0, names.Length).Select(r => Enumerable.Range(0, names.Length).Select(c => _confusion[r, c]).ToArray()).ToArray(),
            },
        };
        return JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = indented });
    }

    private static Dictionary<string, double> Json(ClassMetrics m) => new()
    {
        ["precision"] = m.Precision,
        ["recall"] = m.Recall,
        ["f1-score"] = m.F1,
        ["support"] = m.Support,
    };

    // seqeval divides 0/0 as 0 (with a warning) for precision, recall and F1.
    private static ClassMetrics Score(long tp, long predicted, long actual)
    {
        double p = predicted == 0 ? 0 : (double)tp / predicted;
        double r = actual == 0 ? 0 : (double)tp / actual;
        return new ClassMetrics(p, r, p + r == 0 ? 0 : 2 * p * r / (p + r), actual);
    }

    // The prefix (B, I, E, S, O…) and type of a tag as seqeval splits it: the first character, then what follows
    // the first '-'; a tag without a type has type "_".
    private static (char Prefix, string Type) Split(string tag)
    {
        if (tag.Length == 0) return ('O', "_");
        string rest = tag[1..];
        int dash = rest.IndexOf('-', StringComparison.Ordinal);
        string type = dash >= 0 ? rest[(dash + 1)..] : rest;
        return (tag[0], type.Length == 0 ? "_" : type);
    }

    // conlleval's chunk boundaries (IOB1, IOB2 and IOBES alike), with an O appended to close the last chunk.
    private static void DefaultEntities(IReadOnlyList<string> tags, int sentence, List<EntitySpan> into)
    {
        char prevTag = 'O';
        string prevType = "";
        int begin = 0;
        for (int i = 0; i <= tags.Count; i++)
        {
            var (tag, type) = i < tags.Count ? Split(tags[i]) : ('O', "_");
            if (EndOfChunk(prevTag, tag, prevType, type)) into.Add(new EntitySpan(sentence, prevType, begin, i - 1));
            if (StartOfChunk(prevTag, tag, prevType, type)) begin = i;
            (prevTag, prevType) = (tag, type);
        }
    }

    private static bool EndOfChunk(char prev, char tag, string prevType, string type) =>
        prev is 'E' or 'S'
        || (prev is 'B' or 'I' && tag is 'B' or 'S' or 'O')
        || (prev != 'O' && prev != '.' && prevType != type);

    private static bool StartOfChunk(char prev, char tag, string prevType, string type) =>
        tag is 'B' or 'S'
        || (prev is 'E' or 'S' or 'O' && tag is 'E' or 'I')
        || (tag != 'O' && tag != '.' && prevType != type);

    // IOB2 strict: B-X opens an entity, each following I-X extends it; anything else closes it, and an I that
    // continues nothing is not an entity.
    private static void StrictEntities(IReadOnlyList<string> tags, int sentence, List<EntitySpan> into)
    {
        int i = 0;
        while (i < tags.Count)
        {
            var (prefix, type) = Split(tags[i]);
            if (tags[i] != "O" && prefix is not ('B' or 'I'))
                throw new ArgumentException($"sentence {sentence}, word {i}: tag '{tags[i]}' is not valid in the IOB2 scheme (O, B-X, I-X)");
            if (prefix != 'B')
            {
                i++;
                continue;
            }
            int end = i;
            while (end + 1 < tags.Count && Split(tags[end + 1]) is ('I', var t) && t == type) end++;
            into.Add(new EntitySpan(sentence, type, i, end));
            i = end + 1;
        }
    }
}
