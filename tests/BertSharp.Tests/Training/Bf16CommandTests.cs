using System.Text.Json;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Tensors;

namespace BertSharp.Tests.Training;

/// <summary>--bf16 through the CLI: on oneDNN where it is installed, and the fp32 fallback where it is not.</summary>
public sealed class Bf16CommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bertsharp-bf16-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Slice(string file, int rows, int skip = 0)
    {
        var path = Path.Combine(_dir, $"{Path.GetFileNameWithoutExtension(file)}-{skip}-{rows}.csv");
        var lines = File.ReadLines(TestData.Path("sentence-polarity", file)).ToList();
        File.WriteAllLines(path, [lines[0], .. lines.Skip(1 + skip).Take(rows)]);
        return path;
    }

    [SkippableFact]
    public void TrainEvalAndPredictRunOnTheBf16Provider()
    {
        Skip.IfNot(ComputeProviders.IsAvailable(ComputeProvider.OneDnnBf16), ComputeProviders.UnavailableReason(ComputeProvider.OneDnnBf16));
        var output = Path.Combine(_dir, "bf16");
        var dev = Slice("dev.csv", 96);
        var train = CliRunner.Run("train", "--data", Slice("train.csv", 96), "--eval", dev, "--epochs", "1", "--batch-size", "16",
            "--max-length", "48", "--bf16", "--json", "-o", output);
        Assert.True(train.ExitCode == 0, train.Stderr);
        Assert.Contains("compute: onednn-bf16", train.Stderr);
        Assert.DoesNotContain("warning", train.Stderr);
        var state = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "training_args.json"))).RootElement;
        Assert.True(state.GetProperty("bf16").GetBoolean());

        // The saved weights are fp32; bf16 inference and fp32 inference of them agree on nearly every label.
        var fp32 = CliRunner.Run("eval", "--model", output, "--data", dev, "--json");
        var bf16 = CliRunner.Run("eval", "--model", output, "--data", dev, "--json", "--bf16");
        Assert.True(fp32.ExitCode == 0 && bf16.ExitCode == 0, fp32.Stderr + bf16.Stderr);
        double a32 = JsonDocument.Parse(fp32.Stdout).RootElement.GetProperty("accuracy").GetDouble();
        double a16 = JsonDocument.Parse(bf16.Stdout).RootElement.GetProperty("accuracy").GetDouble();
        Assert.True(Math.Abs(a32 - a16) <= 3.0 / 96, $"dev accuracy {a16} in bf16, {a32} in fp32");

        var predict = CliRunner.Run("predict", "--model", output, "--json", "--bf16", "a gripping, beautifully acted film");
        Assert.True(predict.ExitCode == 0, predict.Stderr);
        Assert.Contains("label", predict.Stdout);
        var onnx = CliRunner.Run("predict", "--model", output, "--runtime", "onnx", "--bf16", "text");
        Assert.Equal(1, onnx.ExitCode);
        Assert.Contains("--bf16", onnx.Stderr);
    }

    [SkippableFact]
    public void ACpuWithoutNativeBf16GetsTheManagedKernels()
    {
        // oneDNN would emulate bf16 there, slower than fp32; ONEDNN_MAX_CPU_ISA stands in for such a CPU.
        Skip.IfNot(ComputeProviders.IsAvailable(ComputeProvider.OneDnnBf16), ComputeProviders.UnavailableReason(ComputeProvider.OneDnnBf16));
        var env = new Dictionary<string, string> { ["ONEDNN_MAX_CPU_ISA"] = "AVX512_CORE" };
        var bench = CliRunner.RunWithEnvironment(env, "bench", "--batch", "2", "--seq", "16", "--train-batch", "0", "--iterations", "1", "--bf16", "--json");
        Assert.True(bench.ExitCode == 0, bench.Stderr);
        Assert.Contains("no native bf16", bench.Stderr);
        Assert.StartsWith("managed", JsonDocument.Parse(bench.Stdout).RootElement.GetProperty("provider").GetString());
    }

    [Fact]
    public void WithoutOneDnnBf16FallsBackToFp32WithAWarning()
    {
        var dir = Path.Combine(_dir, "tiny");
        var config = new BertConfig { HiddenSize = 32, NumHiddenLayers = 2, NumAttentionHeads = 2, IntermediateSize = 64, MaxPositionEmbeddings = 64 };
        HfDirectory.Save(dir, config, BertModel.CreateRandom(config, seed: 3).ToStateDict(), () => BuiltInModels.OpenVocab("minilm-l6"), doLowerCase: true, modelMaxLength: 64);
        var output = Path.Combine(_dir, "fallback");
        var env = new Dictionary<string, string> { ["BERTSHARP_DNNL"] = "none" };
        var train = CliRunner.RunWithEnvironment(env, "train", "--data", Slice("train.csv", 32), "--model", dir, "--epochs", "1",
            "--max-length", "32", "--bf16", "-o", output);
        Assert.True(train.ExitCode == 0, train.Stderr);
        Assert.Contains("warning: --bf16 ignored", train.Stderr);
        Assert.Contains("BERTSHARP_DNNL=none", train.Stderr);
        Assert.Contains("compute: managed", train.Stdout);
        var state = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "training_args.json"))).RootElement;
        Assert.False(state.GetProperty("bf16").GetBoolean());

        var bench = CliRunner.RunWithEnvironment(env, "bench", "--model", "minilm-l6", "--batch", "2", "--seq", "16", "--train-batch", "0",
            "--iterations", "1", "--bf16", "--json");
        Assert.True(bench.ExitCode == 0, bench.Stderr);
        Assert.StartsWith("managed", JsonDocument.Parse(bench.Stdout).RootElement.GetProperty("provider").GetString());
    }
}
