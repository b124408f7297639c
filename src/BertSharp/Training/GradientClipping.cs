using System.Numerics.Tensors;
using BertSharp.Model;

namespace BertSharp.Training;

/// <summary>
/// Clips gradients by their global L2 norm as torch.nn.utils.clip_grad_norm_ does: scale every
/// gradient by maxNorm / (norm + 1e-6) when the norm exceeds maxNorm.
/// </summary>
internal static class GradientClipping
{
    /// <returns>The norm before clipping (what HF's Trainer logs as grad_norm).</returns>
    public static float ClipByGlobalNorm(IReadOnlyList<Parameter> parameters, float maxNorm)
    {
        double sumSquares = 0;
        foreach (var p in parameters)
        {
            float n = TensorPrimitives.Norm(p.Grad);
            sumSquares += (double)n * n;
        }
        float norm = (float)Math.Sqrt(sumSquares);
        if (maxNorm > 0 && norm > maxNorm)
        {
            float scale = maxNorm / (norm + 1e-6f);
            foreach (var p in parameters) TensorPrimitives.Multiply(p.Grad, scale, p.Grad);
        }
        return norm;
    }
}
