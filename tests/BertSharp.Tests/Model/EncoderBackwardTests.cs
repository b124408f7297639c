using BertSharp.Model;

namespace BertSharp.Tests.Model;

/// <summary>
/// The extension point for other heads (token classification, span QA, masked LM): BertModel's backward
/// takes any gradient of the last hidden state, at every token, plus optionally of the pooled output.
/// </summary>
public class EncoderBackwardTests
{
    [Theory]
    [InlineData(0f)]
    [InlineData(0.15f)]
    public void AnyGradientOfLastHiddenStateAndPooledOutput(float dropout)
    {
        var config = GradCheck.TinyConfig(dropout);
        var model = BertModel.CreateRandom(config, seed: 21);
        GradCheck.Randomize(model.Parameters, 22);
        var input = GradCheck.TinyInput();
        const int N = 10, C = 8, B = 2;
        var rng = new Random(23);
        var rHidden = GradCheck.Uniform(rng, N * C); // a per-token head's ∂loss/∂hidden
        var rPooled = GradCheck.Uniform(rng, B * C);
        var ws = model.CreateTrainingWorkspace();
        var stream = new DropoutStream(24);
        double Loss()
        {
            stream.Position = 0;
            model.Forward(input, ws, stream);
            return GradCheck.Dot(rHidden, ws.LastHidden.AsSpan(0, N * C)) + GradCheck.Dot(rPooled, ws.Pooled.AsSpan(0, B * C));
        }
        Loss();
        model.Backward(ws, (float[])rHidden.Clone(), (float[])rPooled.Clone());
        // This loss weighs all 96 outputs, so its curvature (the central difference's h² error) is larger
        // than the classifier's: the tolerance is looser, still far below the error of a wrong term.
        foreach (var p in model.Parameters)
            GradCheck.Check(p.Name, p.Value.Data, p.Grad, Loss, atol: 1e-3, rtol: 1e-2,
                skip: p.Name == "bert.embeddings.word_embeddings.weight" ? i => i < C : null);
    }

    [Fact]
    public void BackwardNeedsATrainingWorkspace()
    {
        var model = BertModel.CreateRandom(GradCheck.TinyConfig(), seed: 1);
        var ws = model.RentWorkspace();
        model.Forward(GradCheck.TinyInput(), ws, dropout: null);
        Assert.Throws<InvalidOperationException>(() => model.Backward(ws, new float[80], null));
    }
}
