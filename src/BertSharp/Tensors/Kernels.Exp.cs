using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BertSharp.Tensors;

// Vectorised e^x: the accurate one (softmax, GELU′) and the coarse one before bf16 rounding.
internal static unsafe partial class Kernels
{
    /// <summary>
    /// e^x in fp32 within about 2 ulp: x = n·ln2 + r with |r| ≤ ln2/2, e^r by its degree-7 Taylor
    /// polynomial (truncation below 6e-9), times 2^n (on AVX-512 vscalefps, which also overflows to +∞
    /// above 88.72). Below −87.3 it returns 0 (so masked scores vanish exactly, and no denormal result
    /// costs a microcode assist); NaN passes through.
    /// </summary>
    /// <remarks>Used instead of Vector512.Exp, which measured several times slower here.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static V Exp<V>(V x) where V : unmanaged, IVec<V>
    {
        const float Low = -87.33654f;
        var xc = V.Min(V.Max(x, V.Create(Low)), V.Create(89f));
        var n = V.Round(xc * V.Create(1.44269504f));
        var e = V.ScaleByPowerOfTwo(ExpOfRemainder(xc, n), n, x);
        e = V.Select(V.LessThan(x, V.Create(Low)), V.Zero, e);
        return V.Select(V.IsNaN(x), x, e);
    }

    /// <summary>
    /// e^x for x ≤ 0 (a softmax's shifted scores) within about 2 ulp, at some 17 operations to <see cref="Exp"/>'s 30:
    /// 2ⁿ comes from t = x·log2 e + (1.5·2²³ + 127), whose low mantissa bits then hold round(x·log2 e) + 127 (no
    /// rounding or conversion instruction, and no overflow to handle), and e^r as in Exp. Below −87.3 it returns 0;
    /// NaN passes through.
    /// </summary>
    /// <remarks>Softmax's exponentials took 1.9 ns a value on AVX2 (Zen 1) by <see cref="Exp"/>, 1.1 by this.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static V ExpNonPositive<V>(V x) where V : unmanaged, IVec<V>
    {
        const float Low = -87.33654f, Shifter = 12583039f;
        // Operand order: where x is NaN the hardware's maximum returns it.
        var xc = V.Max(V.Create(Low), x);
        var t = V.MultiplyAdd(xc, V.Create(1.44269504f), V.Create(Shifter));
        var p = ExpOfRemainder(xc, t - V.Create(Shifter));
        return V.AndNot(V.LessThan(x, V.Create(Low)), p * V.ShiftExponent(t));
    }

    // e^r for r = x − n·ln2 (|r| ≤ ln2/2) by its degree-7 Taylor polynomial (truncation below 6e-9).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static V ExpOfRemainder<V>(V x, V n) where V : unmanaged, IVec<V>
    {
        // ln2 split in two so that n·ln2Hi is exact.
        var r = V.MultiplyAdd(n, V.Create(-0.693359375f), x);
        r = V.MultiplyAdd(n, V.Create(2.12194440e-4f), r);
        // Estrin's scheme: pairs of terms, then pairs of pairs, so the chain is 3 multiply-adds deep (Horner's: 7).
        var r2 = r * r;
        var p01 = r + V.Create(1f);
        var p23 = V.MultiplyAdd(r, V.Create(1f / 6), V.Create(0.5f));
        var p45 = V.MultiplyAdd(r, V.Create(1f / 120), V.Create(1f / 24));
        var p67 = V.MultiplyAdd(r, V.Create(1f / 5040), V.Create(1f / 720));
        return V.MultiplyAdd(V.MultiplyAdd(p67, r2, p45), r2 * r2, V.MultiplyAdd(p23, r2, p01));
    }

    /// <summary>
    /// e^x for x ≤ 0 to a relative error below 6e-5 (degree-4 Taylor polynomial of e^r, |r| ≤ ln2/2,
    /// times 2^n), for probabilities that are rounded to bf16 (relative step 2^-8) next, at half the
    /// instructions of <see cref="Exp"/>. Below −87.3 it returns e^−87.3 ≈ 1.2e-38 (negligible beside
    /// a softmax row's maximum, 1, and never a denormal). AVX-512 only.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> ExpCoarse(Vector512<float> x)
    {
        var xc = Vector512.Max(x, Vector512.Create(-87.33654f));
        var n = Vector512.Round(xc * Vector512.Create(1.44269504f));
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-0.693147181f), xc);
        var p = Vector512.FusedMultiplyAdd(Vector512.Create(1f / 24), r, Vector512.Create(1f / 6));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(0.5f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
        return Avx512F.Scale(p, n);
    }
}
