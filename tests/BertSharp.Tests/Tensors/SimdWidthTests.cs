using System.Runtime.Intrinsics;
using BertSharp.Tensors;

namespace BertSharp.Tests.Tensors;

// The element-wise, row-wise and attention kernels at every vector width this CPU accelerates (an AVX-512
// machine runs the AVX2 and SSE instantiations too), against the same double references and finite
// differences as the tests at the default width. Simd.Lanes is process-wide: these run alone.
[Collection(GemmSettingsCollection.Name)]
public class SimdWidthTests
{
    // Lanes per vector (Simd.Width's values).
    public static TheoryData<int> Widths
    {
        get
        {
            var widths = new TheoryData<int>();
            if (Vector512.IsHardwareAccelerated) widths.Add(16);
            if (Vector256.IsHardwareAccelerated) widths.Add(8);
            widths.Add(4);
            return widths;
        }
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void KernelsMatchTheirReferencesAtEveryWidth(int lanes) => At((Simd.Width)lanes, () =>
    {
        var kernels = new KernelsTests();
        kernels.ErfMatchesHighPrecisionSeries();
        kernels.GeluMatchesDoubleReferenceAndKeepsRelativeAccuracyInTheNegativeTail();
        kernels.GeluMatchesDoubleReferenceWhereTailLanesAreScatteredThroughTheBlocks();
        kernels.GeluWithDerivativeGivesGeluAndItsFiniteDifferenceDerivative();
        foreach (var row in KernelsTests.Shapes)
        {
            var (rows, cols) = ((int)row[0], (int)row[1]);
            kernels.BiasBackwardMatchesDoubleSums(rows, cols);
            kernels.MaskBiasBackwardMatchesDoubleProductsAndSums(rows, cols);
            kernels.LayerNormMatchesDoubleReference(rows, cols);
            kernels.SoftmaxMatchesDoubleReference(rows, cols);
        }
        kernels.LayerNormBackwardMatchesFiniteDifferences();
        kernels.LayerNormBackwardOnManyRowsMatchesTheDoubleFormula();
        kernels.SoftmaxBackwardMatchesFiniteDifferences();
    });

    [Theory]
    [MemberData(nameof(Widths))]
    public void AttentionMatchesItsReferencesAtEveryWidth(int lanes) => At((Simd.Width)lanes, () =>
    {
        var attention = new AttentionTests();
        foreach (var row in AttentionTests.ForwardShapes)
            attention.ForwardMatchesDoubleReferenceAndSkipsPaddedKeys((int)row[0], (int)row[1], (int)row[2], (int)row[3], (int)row[4]);
        attention.BackwardMatchesFiniteDifferences();
        attention.DropoutBackwardMatchesFiniteDifferences();
        attention.OneQueryRowPerSequenceWithAHoleInTheMaskMatchesDoubleReference();
    });

    private static void At(Simd.Width width, Action check)
    {
        var saved = Simd.Lanes;
        Simd.Lanes = width;
        try
        {
            check();
        }
        finally
        {
            Simd.Lanes = saved;
        }
    }
}
