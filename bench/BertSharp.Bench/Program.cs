using BertSharp.Bench;

return args.FirstOrDefault() switch
{
    "gemm" or "kernels" => args[0] == "gemm" ? GemmBench.Run(args[1..]) : KernelBench.Run(args[1..]),
    _ => Usage(),
};

static int Usage()
{
    Console.WriteLine("usage: dotnet run -c Release --project bench/BertSharp.Bench -- <benchmark>");
    return 2;
}
