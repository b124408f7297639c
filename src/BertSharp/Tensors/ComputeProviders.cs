using BertSharp.Tensors.Native;

namespace BertSharp.Tensors;

/// <summary>Which <see cref="ComputeProvider"/>s this machine can run, and how to pick one.</summary>
public static class ComputeProviders
{
    /// <summary>Whether the provider can run here (oneDNN 2.x must be installed for <see cref="ComputeProvider.OneDnnBf16"/>).</summary>
    public static bool IsAvailable(ComputeProvider provider) => provider switch
    {
        ComputeProvider.Managed => true,
        ComputeProvider.OneDnnBf16 => Dnnl.Library is not null,
        _ => false,
    };

    /// <summary>Why the provider cannot run here, or null when it can.</summary>
    public static string? UnavailableReason(ComputeProvider provider) =>
        IsAvailable(provider) ? null : provider == ComputeProvider.OneDnnBf16 ? Dnnl.LoadError : $"unknown provider {provider}";

    /// <summary>
    /// The provider for a bf16 request: <see cref="ComputeProvider.OneDnnBf16"/> when it can run here,
    /// else <see cref="ComputeProvider.Managed"/> (fp32) and a reason for the caller to report.
    /// </summary>
    public static ComputeProvider Resolve(bool bf16, out string? fallbackReason)
    {
        fallbackReason = null;
        if (!bf16) return ComputeProvider.Managed;
        if (IsAvailable(ComputeProvider.OneDnnBf16)) return ComputeProvider.OneDnnBf16;
        fallbackReason = UnavailableReason(ComputeProvider.OneDnnBf16);
        return ComputeProvider.Managed;
    }

    /// <summary>A short name for logs and benchmark output, e.g. "managed-avx512" or "onednn-bf16-amx".</summary>
    public static string Describe(ComputeProvider provider) =>
        IsAvailable(provider) ? MatMul.For(provider).Name : $"{provider} (unavailable: {UnavailableReason(provider)})";
}
