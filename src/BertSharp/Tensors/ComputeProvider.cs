namespace BertSharp.Tensors;

/// <summary>
/// What runs a model's matrix products (the bulk of its work): the managed fp32 kernels, which run
/// everywhere, or oneDNN in bfloat16 (PyTorch's bf16 autocast: bf16 operands, fp32 accumulation,
/// fp32 master weights and everything else in fp32), on AMX tiles where the CPU has them.
/// </summary>
public enum ComputeProvider
{
    /// <summary>The managed fp32 kernels (AVX-512 or AVX2 where present).</summary>
    Managed,

    /// <summary>oneDNN bf16 matmuls (Debian's libdnnl2); see <see cref="ComputeProviders.IsAvailable"/>.</summary>
    OneDnnBf16,
}
