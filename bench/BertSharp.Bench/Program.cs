using BertSharp.Bench;

// Each benchmark is one entry: dotnet run -c Release --project bench/BertSharp.Bench -- <name> [args]
var benchmarks = new Dictionary<string, Func<string[], int>>
{
    ["tokenizer"] = TokenizerBenchmark.Run,
    ["data-load"] = DataLoadBench.Run,
    ["gemm"] = GemmBench.Run,
    ["gemm-peer"] = GemmPeerBench.Run,
    ["kernels"] = KernelBench.Run,
    ["onnx"] = OnnxBench.Run,
    ["serve-load"] = ServeLoadBench.Run,
    ["qa-features"] = QaFeatureDump.Run,
    ["balancer-load"] = BalancerLoadBench.Run,
    ["serve-mixed-load"] = ServeMixedLoadBench.Run,
    ["fuzz"] = FuzzBench.Run,
};
if (args.Length == 0 || !benchmarks.TryGetValue(args[0], out var run))
{
    Console.Error.WriteLine($"usage: dotnet run -c Release --project bench/BertSharp.Bench -- <{string.Join("|", benchmarks.Keys)}> [args]");
    return 2;
}
return run(args[1..]);
