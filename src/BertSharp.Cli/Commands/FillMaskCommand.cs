using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using BertSharp.Inference;

namespace BertSharp.Cli.Commands;

internal static class FillMaskCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "A masked-LM model directory (bertsharp pretrain's output, or an HF BertForMaskedLM / BertForPreTraining)", Required = true };
        var revision = ModelSource.Revision();
        var texts = new Argument<string[]>("texts") { Description = "Texts with [MASK] (also [mask] or <mask>)", Arity = ArgumentArity.ZeroOrMore };
        var input = new Option<string?>("--input") { Description = "A file of texts: one per line, or JSON Lines with \"text\"" };
        var topK = new Option<int>("--top-k") { Description = "Candidates per mask", DefaultValueFactory = _ => 5 };
        topK.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() < 1) r.AddError($"--top-k {r.GetValueOrDefault<int>()}: must be at least 1");
        });
        var targets = new Option<string?>("--targets") { Description = "Score only these words, comma-separated (e.g. he,she)" };
        var json = new Option<bool>("--json") { Description = "One JSON object per text" };
        var output = OutputOption.Create("the candidates");
        var runtime = RuntimeOption.Create();
        var bf16 = ProviderOption.Create();
        var command = new Command("fill-mask", """
            Predict the words behind [MASK]: the most probable tokens with their probabilities, per mask.

            Examples:
              bertsharp fill-mask --model out/imdb-mlm "Singapore Airlines is the national [MASK] of Singapore."
              bertsharp fill-mask --model out/imdb-mlm "The nurse said [MASK] was tired." --targets he,she
              bertsharp fill-mask --model out/imdb-mlm --input sentences.jsonl --json --top-k 10
            """);
        command.Arguments.Add(texts);
        foreach (var o in new Option[] { model, revision, input, topK, targets, json, output, runtime, bf16 }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            var items = MaskedTexts.Read(parse.GetValue(texts) ?? [], parse.GetValue(input));
            if (items.Count == 0) throw new ArgumentException("nothing to fill: give texts as arguments or --input FILE");
            ProviderOption.Validate(parse.GetValue(bf16), RuntimeOption.Parse(parse.GetValue(runtime)));
            using var pipeline = FillMaskPipeline.Load(ModelSource.Resolve(parse.GetValue(model)!, parse.GetValue(revision)), RuntimeOption.Parse(parse.GetValue(runtime)));
            ProviderOption.Apply(pipeline, parse.GetValue(bf16));
            var targetList = parse.GetValue(targets)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (targetList is not null)
            {
                var ids = pipeline.TargetIds(targetList);
                for (int i = 0; i < targetList.Length; i++)
                    if (ids[i] is null) Console.Error.WriteLine($"bertsharp: target '{targetList[i]}' is not a token of the model's vocabulary; it is left out");
            }
            var results = pipeline.FillBatch(items, parse.GetValue(topK), targetList);
            var text = new StringBuilder();
            foreach (var r in results)
            {
                if (parse.GetValue(json))
                {
                    text.AppendLine(JsonSerializer.Serialize(new Dictionary<string, object>
                    {
                        ["text"] = r.Text,
                        ["masks"] = r.Masks.Select(m => m.Select(c => new Dictionary<string, object>
                        {
                            ["score"] = Math.Round(c.Score, 6),
                            ["token"] = c.TokenId,
                            ["token_str"] = c.Token,
                            ["sequence"] = c.Sequence,
                        })),
                    }));
                    continue;
                }
                text.AppendLine(r.Text);
                for (int m = 0; m < r.Masks.Count; m++)
                {
                    foreach (var c in r.Masks[m])
                        text.AppendLine(string.Create(CultureInfo.InvariantCulture, $"  mask {m + 1}  {c.Token,-16} {c.Score,8:F4}  {c.Sequence}"));
                }
            }
            OutputOption.Write(parse.GetValue(output), text.ToString(), parse.GetValue(model)!, parse.GetValue(input));
            return 0;
        });
        return command;
    }
}
