using Xunit.Abstractions;

namespace BertSharp.Tests.Server;

/// <summary>The page at / in headless Chromium: classify a sentence, pick a token, see its attention drawn.</summary>
[Collection(ServedModel.Collection)]
public sealed class WebPageTests(ServedModel model, ITestOutputHelper output)
{
    [Fact]
    public async Task ClassifiesASentenceAndDrawsTheAttentionOfAChosenToken()
    {
        await using var server = await model.StartAsync();
        await using var browser = await Chromium.StartAsync(1100, 1500);
        await browser.NavigateAsync(new Uri(server.Address, "/").ToString());
        await browser.WaitForAsync("document.readyState === 'complete' && document.getElementById('model').textContent.includes('questions')", TimeSpan.FromSeconds(30));

        // Type a question and press the button, as a user would.
        await browser.EvaluateAsync("(() => { const t = document.getElementById('text'); t.value = ''; t.focus(); })()");
        await browser.InsertTextAsync("Who wrote the book that the monkey read ?");
        await browser.ClickAsync("#classify");
        await browser.WaitForAsync("document.body.dataset.state === 'done' || document.body.dataset.state === 'error'", TimeSpan.FromSeconds(30));
        Assert.Equal("", (await browser.EvaluateAsync("document.getElementById('status').textContent"))!.GetValue<string>());

        // The bars: both labels, the top one first, probabilities that add up to 100%.
        var labels = (await browser.EvaluateAsync("[...document.querySelectorAll('.bar-label')].map(e => e.textContent)"))!.AsArray().Select(n => n!.GetValue<string>()).ToArray();
        Assert.Equal(["question", "review"], labels);
        var percents = (await browser.EvaluateAsync("[...document.querySelectorAll('.bar-value')].map(e => parseFloat(e.textContent))"))!.AsArray().Select(n => n!.GetValue<double>()).ToArray();
        Assert.Equal(100, percents.Sum(), 1);

        // The tokens with their ids, as the tokenizer gives them.
        var tokens = (await browser.EvaluateAsync("[...document.querySelectorAll('#tokens .token .text')].map(e => e.textContent)"))!.AsArray().Select(n => n!.GetValue<string>()).ToArray();
        var encoding = model.Managed.Tokenizer.Encode("Who wrote the book that the monkey read ?");
        Assert.Equal(encoding.Tokens, tokens);
        var ids = (await browser.EvaluateAsync("[...document.querySelectorAll('#tokens .token .id')].map(e => Number(e.textContent))"))!.AsArray().Select(n => n!.GetValue<int>()).ToArray();
        Assert.Equal(encoding.Ids, ids);
        int T = tokens.Length;

        // Pick the last layer's second head, then hover and click "monkey".
        await browser.EvaluateAsync("(() => { const h = document.getElementById('head'); h.value = '1'; h.dispatchEvent(new Event('change')); })()");
        int monkey = Array.IndexOf(tokens, "monkey");
        await browser.ClickAsync($"#tokens .token[data-index=\"{monkey}\"]");

        // Its row of the heat map is marked, every token chip is shaded by its weight, and the
        // matrix cells carry the weights of the chosen layer and head (shade = √weight).
        Assert.Equal(T, (await browser.EvaluateAsync("document.querySelectorAll('#matrix .cell.focus-row').length"))!.GetValue<int>());
        var shaded = (await browser.EvaluateAsync("[...document.querySelectorAll('#tokens .token')].map(e => parseFloat(getComputedStyle(e).getPropertyValue('--w')))"))!.AsArray().Select(n => n!.GetValue<double>()).ToArray();
        Assert.Equal(T, shaded.Length);
        Assert.All(shaded, w => Assert.InRange(w, 0, 0.85));
        var opacities = (await browser.EvaluateAsync("[...document.querySelectorAll('#matrix .cell .fill')].map(e => parseFloat(getComputedStyle(e).opacity))"))!.AsArray().Select(n => n!.GetValue<double>()).ToArray();
        Assert.Equal(T * T, opacities.Length);
        Assert.True(opacities.Count(o => o > 0) >= T * (T - 1), $"{opacities.Count(o => o > 0)} of {T * T} cells drawn");

        // The drawn row is the model's own attention: monkey's row of layer 2, head 2.
        var attention = model.Managed.Model.Predict(new BertSharp.Model.BertInput(1, T, encoding.Ids, new int[T], Enumerable.Repeat(1, T).ToArray()), outputAttentions: true).Attentions![^1];
        var row = attention.Data.AsSpan((1 * T + monkey) * T, T).ToArray();
        for (int j = 0; j < T; j++) Assert.Equal(Math.Sqrt(row[j]), opacities[monkey * T + j], 1e-2);
        Assert.Equal(row.Select(v => Math.Sqrt(v) * 0.85).ToArray(), shaded, (a, b) => Math.Abs(a - b) < 0.01);
        Assert.False((await browser.EvaluateAsync("document.getElementById('key-row').offsetParent !== null"))!.GetValue<bool>(), "the API key box shows on a server without a key");

        var png = await browser.ScreenshotAsync();
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
        var artefact = Path.Combine(AppContext.BaseDirectory, "TestResults", "serve-page.png");
        Directory.CreateDirectory(Path.GetDirectoryName(artefact)!);
        await File.WriteAllBytesAsync(artefact, png);
        output.WriteLine($"screenshot: {artefact}");
    }

    [Fact]
    public async Task AsksForTheApiKeyAndOnTheOnnxRuntimeShowsThePredictionWithoutAttention()
    {
        await using var server = await model.StartAsync(new BertSharp.Server.ServerOptions { ApiKey = "page-key" }, model.Onnx);
        await using var browser = await Chromium.StartAsync(1100, 900);
        await browser.NavigateAsync(new Uri(server.Address, "/").ToString());
        await browser.WaitForAsync("document.getElementById('model').textContent.includes('API key')", TimeSpan.FromSeconds(30));
        Assert.True((await browser.EvaluateAsync("document.getElementById('key-row').offsetParent !== null"))!.GetValue<bool>(), "no API key box after a 401");

        await browser.ClickAsync("#api-key");
        await browser.InsertTextAsync("page-key");
        await browser.EvaluateAsync("document.getElementById('api-key').dispatchEvent(new Event('change'))");
        await browser.WaitForAsync("document.getElementById('model').textContent.includes('onnx runtime')", TimeSpan.FromSeconds(30));
        await browser.ClickAsync("#classify");
        await browser.WaitForAsync("document.body.dataset.state === 'done' || document.body.dataset.state === 'error'", TimeSpan.FromSeconds(30));
        Assert.Equal("done", (await browser.EvaluateAsync("document.body.dataset.state"))!.GetValue<string>());

        var tokens = (await browser.EvaluateAsync("[...document.querySelectorAll('#tokens .token .text')].map(e => e.textContent)"))!.AsArray().Select(n => n!.GetValue<string>());
        Assert.Equal(model.Managed.Tokenizer.Encode("The monkey ate the banana because it was too hungry").Tokens, tokens);
        Assert.Equal(2, (await browser.EvaluateAsync("document.querySelectorAll('.bar-label').length"))!.GetValue<int>());
        Assert.True((await browser.EvaluateAsync("document.getElementById('attention-card').offsetParent === null && document.getElementById('no-attention').offsetParent !== null"))!.GetValue<bool>(),
            "the ONNX runtime has no attentions to draw: the page should say so instead");
    }

    [Fact]
    public async Task LongTextsWrapWithoutHorizontalScrollingAndThePageHasAnIcon()
    {
        await using var server = await model.StartAsync();
        await using var browser = await Chromium.StartAsync(700, 900);
        await browser.NavigateAsync(new Uri(server.Address, "/").ToString());
        await browser.WaitForAsync("document.readyState === 'complete' && document.getElementById('model').textContent.includes('questions')", TimeSpan.FromSeconds(30));

        // 2,000 characters: words, then a 400-character run with no break opportunity (a URL, a hash, a gene).
        var text = string.Join(" ", Enumerable.Repeat("who wrote the long review", 64))[..1600] + " " + new string('x', 399);
        Assert.Equal(2000, text.Length);
        await browser.EvaluateAsync($"document.getElementById('text').value = {System.Text.Json.JsonSerializer.Serialize(text)}");
        await browser.ClickAsync("#classify");
        await browser.WaitForAsync("document.body.dataset.state === 'done' || document.body.dataset.state === 'error'", TimeSpan.FromSeconds(30));
        Assert.Equal("done", (await browser.EvaluateAsync("document.body.dataset.state"))!.GetValue<string>());
        var widths = (await browser.EvaluateAsync("[document.documentElement.scrollWidth, document.documentElement.clientWidth]"))!.AsArray().Select(n => n!.GetValue<int>()).ToArray();
        Assert.True(widths[0] <= widths[1], $"the page is {widths[0]} px wide in a {widths[1]} px window: it scrolls sideways");
        // Every card stays inside the window (the attention matrix scrolls inside its own box).
        var overflowing = (await browser.EvaluateAsync("[...document.querySelectorAll('.card')].filter(c => c.offsetParent !== null && c.getBoundingClientRect().right > document.documentElement.clientWidth).map(c => c.id)"))!.AsArray();
        Assert.Empty(overflowing);

        Assert.EndsWith("/favicon.svg", (await browser.EvaluateAsync("document.querySelector('link[rel=icon]').href"))!.GetValue<string>());
        foreach (var path in new[] { "/favicon.svg", "/favicon.ico" })
        {
            using var icon = await server.Client.GetAsync(path);
            Assert.Equal(System.Net.HttpStatusCode.OK, icon.StatusCode);
            Assert.Equal("image/svg+xml", icon.Content.Headers.ContentType!.MediaType);
            var svg = System.Xml.Linq.XDocument.Parse(await icon.Content.ReadAsStringAsync()).Root!;
            Assert.Equal("{http://www.w3.org/2000/svg}svg", svg.Name.ToString());
            Assert.True(icon.Content.Headers.ContentLength < 2048, "an icon should be small");
        }
    }
}
