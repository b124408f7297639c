using BertSharp.Bench;

// One benchmark per first argument; each prints its figures and the command to docs/BENCHMARKS.md's format.
return args.FirstOrDefault() switch
{
    "data-load" => DataLoadBench.Run(args[1..]),
    "gemm" => GemmBench.Run(args[1..]),
    "kernels" => KernelBench.Run(args[1..]),
    _ => Usage(),
};

static int Usage()
{
    Console.WriteLine("usage: dotnet run -c Release --project bench/BertSharp.Bench -- <data-load|gemm|kernels> [options]");
    return 2;
}
