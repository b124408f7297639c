using System.CommandLine;
using BertSharp.Inference;

namespace BertSharp.Cli.Commands;

internal static class BiasProbeCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "A masked-LM model directory", Required = true };
        var revision = ModelSource.Revision();
        var templates = new Option<string?>("--templates") { Description = "Templates with one [MASK] each: one per line, or JSON Lines with \"text\" (default: the spec's five)" };
        var targets = new Option<string>("--targets") { Description = "Words to compare at the mask, comma-separated", DefaultValueFactory = _ => "he,she" };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON" };
        var plot = new Option<string?>("--plot") { Description = "Also draw a bar chart to this PNG file" };
        var output = OutputOption.Create("the table (or JSON)");
        var command = new Command("bias-probe", """
            The spec's gender-bias probe: the probability of each target word (he / she) in the pronoun slot of
            sentences about occupations (nurse, doctor, receptionist, president, programmer), with the ratio.

            Examples:
              bertsharp bias-probe --model out/imdb-mlm
              bertsharp bias-probe --model out/imdb-mlm --targets he,she,they --plot bias.png
              bertsharp bias-probe --model out/imdb-mlm --templates my-templates.txt --json
            """);
        foreach (var o in new Option[] { model, revision, templates, targets, json, plot, output }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            OutputGuard.RefuseSame(parse.GetValue(output), "--output", parse.GetValue(plot), "--plot");
            var targetList = parse.GetValue(targets)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var templateList = parse.GetValue(templates) is { } path ? MaskedTexts.ReadFile(path) : null;
            if (templateList is { Count: 0 }) throw new InvalidDataException($"{parse.GetValue(templates)}: no templates in the file");
            using var pipeline = FillMaskPipeline.Load(ModelSource.Resolve(parse.GetValue(model)!, parse.GetValue(revision)));
            var probe = BiasProbe.Run(pipeline, templateList, targetList);
            if (parse.GetValue(plot) is { } png)
            {
                OutputGuard.RefuseInputs(png, "--plot", parse.GetValue(model)!, parse.GetValue(templates));
                if (Path.GetDirectoryName(Path.GetFullPath(png)) is { } dir) Directory.CreateDirectory(dir);
                probe.WritePng(png);
            }
            OutputOption.Write(parse.GetValue(output), parse.GetValue(json) ? probe.ToJson() + Environment.NewLine : probe.ToText(), parse.GetValue(model)!, parse.GetValue(templates));
            return 0;
        });
        return command;
    }
}
