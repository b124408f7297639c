using System.Text.Json;
using BertSharp.IO;
using BertSharp.QuestionAnswering;
using BertSharp.Text;

/// <summary>
/// Writes the question-answering windows BertSharp builds for a SQuAD file as JSON Lines (one window a line:
/// example index, question id, ids, type ids, context offsets, start/end), so bench/qa/pytorch_qa_peer.py
/// trains and scores on exactly the same features. Usage: qa-features SQUAD.json OUT.jsonl [model] [max-length] [stride].
/// </summary>
internal static class QaFeatureDump
{
    public static int Run(string[] args)
    {
        if (args.Length < 2)
        {
            Console.Error.WriteLine("usage: qa-features SQUAD.json OUT.jsonl [model=minilm-l6] [max-length=384] [doc-stride=128]");
            return 2;
        }
        var pretrained = PretrainedModel.Load(args.Length > 2 ? args[2] : "minilm-l6");
        using var vocab = pretrained.OpenVocab();
        var tokenizer = BertTokenizer.FromVocab(vocab, new BertTokenizerOptions { DoLowerCase = pretrained.DoLowerCase }, pretrained.Source);
        var options = new QaOptions
        {
            MaxLength = args.Length > 3 ? int.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture) : 384,
            DocStride = args.Length > 4 ? int.Parse(args[4], System.Globalization.CultureInfo.InvariantCulture) : 128,
        };
        var data = SquadDataset.Load(args[0]);
        var features = QaFeatures.Build(tokenizer, data.Examples, options);
        var lines = features.Select(f => JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["example"] = f.ExampleIndex,
            ["id"] = data.Examples[f.ExampleIndex].Id,
            ["input_ids"] = f.InputIds,
            ["token_type_ids"] = f.TypeIds,
            ["offsets"] = f.Offsets.Select(o => new[] { o.Start, o.End }),
            ["start"] = f.StartPosition,
            ["end"] = f.EndPosition,
        }) + "\n");
        AtomicFile.WriteAllText(args[1], string.Concat(lines));
        Console.WriteLine($"{data.Count} questions, {features.Count} windows -> {args[1]}");
        return 0;
    }
}
