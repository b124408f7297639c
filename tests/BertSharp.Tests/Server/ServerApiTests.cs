using System.Net;
using System.Text;
using System.Text.Json;
using BertSharp.Model;
using BertSharp.Server;

namespace BertSharp.Tests.Server;

/// <summary>The HTTP API over a real loopback socket: answers, batching, and every way a request can be wrong.</summary>
[Collection(ServedModel.Collection)]
public sealed class ServerApiTests(ServedModel model)
{
    private static string Json(object value) => JsonSerializer.Serialize(value);

    private static async Task<JsonElement> ReadJson(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

    private static float[] Scores(JsonElement prediction, IReadOnlyList<string> labels) =>
        [.. labels.Select(l => prediction.GetProperty("scores").GetProperty(l).GetSingle())];

    [Fact]
    public async Task HeldOutQuestionsAndReviewsGetTheirLabelsWhetherSentAloneConcurrentlyOrTogether()
    {
        await using var server = await model.StartAsync(new ServerOptions { MaxBatchWait = TimeSpan.FromMilliseconds(20) });
        var texts = model.HeldOut.Select(e => e.Text).ToArray();

        // Every text in its own request, all at once: the batcher pads them together.
        var single = await Task.WhenAll(texts.Select(async t =>
        {
            using var r = await server.PostJsonAsync("/v1/classify", Json(new { text = t }));
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            var body = await ReadJson(r);
            Assert.Equal("questions", body.GetProperty("model").GetString());
            return body.GetProperty("predictions")[0].Clone();
        }));
        using var together = await server.PostJsonAsync("/v1/classify", Json(new { texts }));
        Assert.Equal(HttpStatusCode.OK, together.StatusCode);
        var batch = (await ReadJson(together)).GetProperty("predictions");
        Assert.Equal(texts.Length, batch.GetArrayLength());

        int correct = 0;
        var labels = model.Managed.Labels;
        for (int i = 0; i < texts.Length; i++)
        {
            var a = single[i];
            var b = batch[i];
            if (a.GetProperty("label").GetString() == model.HeldOut[i].Label) correct++;
            Assert.Equal(a.GetProperty("label").GetString(), b.GetProperty("label").GetString());
            var pa = Scores(a, labels);
            var pb = Scores(b, labels);
            Assert.Equal(1f, pa.Sum(), 1e-4);
            Assert.Equal(pa.Max(), a.GetProperty("score").GetSingle());
            // Padding next to other requests' texts must not change a text's answer.
            for (int c = 0; c < labels.Count; c++) Assert.Equal(pa[c], pb[c], 1e-5);
        }
        Assert.True(correct >= 36, $"{correct}/40 held-out texts got their data set's label");

        // Some of the concurrent single-text requests shared a model run.
        var metrics = await server.Client.GetStringAsync("/metrics");
        long batches = (long)Metric(metrics, "bertsharp_batch_size_count");
        Assert.True(batches < texts.Length + 1, $"{texts.Length} single requests + 1 batch request ran as {batches} batches");
    }

    [Fact]
    public async Task TopKTextPairsAndScoresOrder()
    {
        await using var server = await model.StartAsync();
        using var r = await server.PostJsonAsync("/v1/classify", Json(new { texts = new[] { "who wrote hamlet ?", "a tedious film ." }, text_pairs = new[] { "shakespeare", null }, top_k = 1 }));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        var predictions = (await ReadJson(r)).GetProperty("predictions");
        foreach (var p in predictions.EnumerateArray())
        {
            var scores = p.GetProperty("scores").EnumerateObject().ToList();
            Assert.Single(scores);
            Assert.Equal(p.GetProperty("label").GetString(), scores[0].Name);
        }
        // The pair is read: the same text with and without it gives different probabilities.
        using var alone = await server.PostJsonAsync("/v1/classify", Json(new { text = "who wrote hamlet ?" }));
        var withPair = predictions[0].GetProperty("score").GetSingle();
        var without = (await ReadJson(alone)).GetProperty("predictions")[0];
        Assert.NotEqual(withPair, without.GetProperty("scores").GetProperty(predictions[0].GetProperty("label").GetString()!).GetSingle());
    }

    public static TheoryData<string, string, string?, int, string, string> BadRequests() => new()
    {
        // name, body, content type (null: none), status, error code, part of the message
        { "malformed JSON", "{\"text\": \"unterminated", "application/json", 400, "malformed_json", "not valid JSON" },
        { "not an object", "[\"a text\"]", "application/json", 400, "malformed_json", "JSON object" },
        { "text/plain", "{\"text\": \"hello\"}", "text/plain", 415, "unsupported_media_type", "application/json" },
        { "no content type", "{\"text\": \"hello\"}", null, 415, "unsupported_media_type", "no content type" },
        { "form", "text=hello", "application/x-www-form-urlencoded", 415, "unsupported_media_type", "application/json" },
        { "empty text", "{\"text\": \"\"}", "application/json", 422, "empty_text", "\"text\" is empty" },
        { "blank text", "{\"text\": \" \\n\\t \"}", "application/json", 422, "empty_text", "\"text\" is empty" },
        { "an empty text among others", "{\"texts\": [\"fine\", \"\"]}", "application/json", 422, "empty_text", "\"texts\"[1] is empty" },
        { "no texts", "{\"texts\": []}", "application/json", 422, "empty_text", "at least one text" },
        { "no text field", "{\"txt\": \"hello\"}", "application/json", 422, "invalid_field", "missing \"text\"" },
        { "text and texts", "{\"text\": \"a\", \"texts\": [\"b\"]}", "application/json", 422, "invalid_field", "not both" },
        { "text is a number", "{\"text\": 5}", "application/json", 422, "invalid_field", "\"text\" must be a string (got a number)" },
        { "texts hold a number", "{\"texts\": [\"a\", 5]}", "application/json", 422, "invalid_field", "\"texts\"[1] must be a string" },
        { "pairs of the wrong count", "{\"texts\": [\"a\", \"b\"], \"text_pairs\": [\"c\"]}", "application/json", 422, "invalid_field", "has 1 entries" },
        { "top_k zero", "{\"text\": \"a\", \"top_k\": 0}", "application/json", 422, "invalid_field", "\"top_k\" must be a positive integer" },
        // A value is shown up to 40 characters and its length: a 900 KB one came back whole, twice.
        { "top_k a long string", "{\"text\": \"a\", \"top_k\": \"" + new string('A', 100_000) + "\"}", "application/json", 422, "invalid_field", "(got \"" + new string('A', 39) + "… (100,002 characters))" },
        { "labelled gzip but plain", "{\"text\": \"a\"}", "application/json", 400, "invalid_content_encoding", "not data of its Content-Encoding" },
        { "too long a text", "{\"text\": \"" + new string('a', 10_001) + "\"}", "application/json", 422, "text_too_long", "10001 characters" },
        { "10,000 texts", "{\"texts\": [" + string.Join(",", Enumerable.Repeat("\"a short text\"", 10_000)) + "]}", "application/json", 422, "too_many_texts", "10000 entries" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task BadRequestsGetTheirStatusAndAJsonErrorAndTheServerKeepsServing(string name, string body, string? contentType, int status, string code, string message)
    {
        await using var server = await model.StartAsync();
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        if (contentType is not null) content.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse(contentType);
        // Sent plain but labelled gzip: it must not be taken as it came (nor be a 500 from the decoder).
        if (name == "labelled gzip but plain") content.Headers.ContentEncoding.Add("gzip");
        using var r = await server.Client.PostAsync("/v1/classify", content);
        await AssertError(r, status, code, message, name);
        await AssertStillServes(server);
    }

    [Fact]
    public async Task GzipBrotliAndDeflateBodiesAreDecodedAndOtherEncodingsRefused()
    {
        // A gzip body was read as it came: a 400 about a bad UTF-8 byte (0x8B, gzip's second magic byte).
        await using var server = await model.StartAsync();
        string body = Json(new { text = model.HeldOut[0].Text });
        using var plain = await server.PostJsonAsync("/v1/classify", body);
        string expected = await plain.Content.ReadAsStringAsync();
        foreach (var (name, compress) in new (string, Func<Stream, Stream>)[]
        {
            ("gzip", s => new System.IO.Compression.GZipStream(s, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true)),
            ("br", s => new System.IO.Compression.BrotliStream(s, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true)),
            ("deflate", s => new System.IO.Compression.ZLibStream(s, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true)),
        })
        {
            var packed = new MemoryStream();
            using (var z = compress(packed)) z.Write(Encoding.UTF8.GetBytes(body));
            var content = new ByteArrayContent(packed.ToArray());
            content.Headers.ContentType = new("application/json");
            content.Headers.ContentEncoding.Add(name);
            using var r = await server.Client.PostAsync("/v1/classify", content);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            Assert.Equal(expected, await r.Content.ReadAsStringAsync());
        }
        var zstd = new ByteArrayContent([0x28, 0xB5, 0x2F, 0xFD]);
        zstd.Headers.ContentType = new("application/json");
        zstd.Headers.ContentEncoding.Add("zstd");
        using (var r = await server.Client.PostAsync("/v1/classify", zstd)) await AssertError(r, 415, "unsupported_media_type", "Content-Encoding 'zstd'", "zstd");
        await AssertStillServes(server);
    }

    [Fact]
    public async Task ABadLiteralIsNotEchoedBack()
    {
        // The parser quotes a bad literal to the end of the body: a 100 KB one came back twice in the 400.
        await using var server = await model.StartAsync();
        using var r = await server.PostJsonAsync("/v1/classify", "{\"text\": t" + new string('x', 100_000) + "}");
        await AssertError(r, 400, "malformed_json", "characters) is an invalid JSON literal", "a 100 KB literal");
        long length = (await r.Content.ReadAsByteArrayAsync()).Length;
        Assert.True(length < 2_000, $"a 400 of {length} bytes");
    }

    [Fact]
    public async Task TenMegabyteBodiesGet413WithOrWithoutContentLength()
    {
        await using var server = await model.StartAsync();
        var big = "{\"text\": \"" + new string('a', 10 << 20) + "\"}";
        using (var r = await server.PostJsonAsync("/v1/classify", big)) await AssertError(r, 413, "body_too_large", "1048576 bytes", "10 MB");

        // Chunked, with no Content-Length to refuse up front: Kestrel's limit stops the read.
        var chunked = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(big)));
        chunked.Headers.ContentType = new("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/classify") { Content = chunked };
        request.Headers.TransferEncodingChunked = true;
        using (var r = await server.Client.SendAsync(request)) await AssertError(r, 413, "body_too_large", "1048576 bytes", "10 MB chunked");
        await AssertStillServes(server);
    }

    [Fact]
    public async Task UnknownRoutesAndMethodsGetJsonErrors()
    {
        await using var server = await model.StartAsync();
        using (var r = await server.Client.GetAsync("/v1/nothing-here")) await AssertError(r, 404, "not_found", "/v1/nothing-here", "404");
        using (var r = await server.Client.GetAsync("/v1/classify"))
        {
            await AssertError(r, 405, "method_not_allowed", "does not take GET", "405");
            Assert.Equal(["POST"], r.Content.Headers.Allow);
        }
        // The probes' and the scraper's mappings took any method (DELETE /health/ready, POST /metrics were 200s).
        foreach (var (method, path) in new[] { ("DELETE", "/health/ready"), ("POST", "/health/live"), ("POST", "/metrics"), ("PUT", "/metrics") })
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), path);
            using var r = await server.Client.SendAsync(request);
            await AssertError(r, 405, "method_not_allowed", $"does not take {method}", $"{method} {path}");
            Assert.Equal(["GET", "HEAD"], r.Content.Headers.Allow);
        }
        // A client that says it wants no JSON still gets the problem, the one error format there is.
        using (var request = new HttpRequestMessage(HttpMethod.Get, "/v1/nothing-here"))
        {
            request.Headers.Accept.ParseAdd("text/html");
            using var r = await server.Client.SendAsync(request);
            await AssertError(r, 404, "not_found", "/v1/nothing-here", "404 to a client accepting HTML");
        }
        await AssertStillServes(server);
    }

    [Fact]
    public async Task ApiKeyIsRequiredOnV1AndMetricsAndCheckedExactly()
    {
        await using var server = await model.StartAsync(new ServerOptions { ApiKey = "s3cret-key" });
        var body = Json(new { text = "what is the capital of peru ?" });
        using (var r = await server.PostJsonAsync("/v1/classify", body)) await AssertError(r, 401, "unauthorized", "needs an API key", "no key");
        foreach (var (header, value) in new[] { ("Authorization", "Bearer s3cret-kex"), ("X-API-Key", "S3CRET-KEY"), ("Authorization", "Basic czNjcmV0LWtleQ=="), ("X-API-Key", "") })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/classify") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            request.Headers.TryAddWithoutValidation(header, value);
            using var r = await server.Client.SendAsync(request);
            Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
            Assert.Equal("unauthorized", (await ReadJson(r)).GetProperty("error").GetProperty("code").GetString());
        }
        using (var r = await server.Client.GetAsync("/v1/model")) Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        foreach (var (header, value) in new[] { ("Authorization", "Bearer s3cret-key"), ("X-API-Key", "s3cret-key") })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/classify") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            request.Headers.TryAddWithoutValidation(header, value);
            using var r = await server.Client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            Assert.Equal("question", (await ReadJson(r)).GetProperty("predictions")[0].GetProperty("label").GetString());
        }
        foreach (var open in new[] { "/health", "/" })
        {
            using var r = await server.Client.GetAsync(open);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        }
        // /metrics is behind the key too (issue 15) unless MetricsPublic.
        using (var metrics = await server.Client.GetAsync("/metrics")) Assert.Equal(HttpStatusCode.Unauthorized, metrics.StatusCode);
    }

    [Fact]
    public async Task MetricsCountRequestsErrorsAndBatches()
    {
        await using var server = await model.StartAsync();
        var before = await server.Client.GetStringAsync("/metrics");
        for (int i = 0; i < 3; i++)
        {
            using var ok = await server.PostJsonAsync("/v1/classify", Json(new { texts = new[] { "who is there ?", "a lovely film ." } }));
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }
        using (var bad = await server.PostJsonAsync("/v1/classify", "{oops")) Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        using (var tok = await server.PostJsonAsync("/v1/tokenize", Json(new { text = "hello" }))) Assert.Equal(HttpStatusCode.OK, tok.StatusCode);
        var after = await server.Client.GetStringAsync("/metrics");

        const string ok200 = "bertsharp_http_requests_total{route=\"/v1/classify\",method=\"POST\",status=\"200\"}";
        const string bad400 = "bertsharp_http_requests_total{route=\"/v1/classify\",method=\"POST\",status=\"400\"}";
        Assert.Equal(3, Metric(after, ok200) - Metric(before, ok200));
        Assert.Equal(1, Metric(after, bad400) - Metric(before, bad400));
        Assert.Equal(1, Metric(after, "bertsharp_http_requests_total{route=\"/v1/tokenize\",method=\"POST\",status=\"200\"}"));
        Assert.Equal(1, Metric(after, "bertsharp_errors_total{code=\"malformed_json\"}") - Metric(before, "bertsharp_errors_total{code=\"malformed_json\"}"));
        Assert.Equal(6, Metric(after, "bertsharp_texts_classified_total") - Metric(before, "bertsharp_texts_classified_total"));
        Assert.Equal(3, Metric(after, "bertsharp_batch_size_count") - Metric(before, "bertsharp_batch_size_count"));
        Assert.Equal(6, Metric(after, "bertsharp_batch_size_sum") - Metric(before, "bertsharp_batch_size_sum"));
        Assert.Equal(3, Metric(after, "bertsharp_batch_size_bucket{le=\"2\"}") - Metric(before, "bertsharp_batch_size_bucket{le=\"2\"}"));
        Assert.Equal(0, Metric(after, "bertsharp_queue_length"));
        Assert.True(Metric(after, "bertsharp_http_request_duration_seconds_count{route=\"/v1/classify\"}") >= 4);
        // The latency histogram's buckets are cumulative and end with +Inf = count.
        Assert.Equal(Metric(after, "bertsharp_http_request_duration_seconds_count{route=\"/v1/classify\"}"),
            Metric(after, "bertsharp_http_request_duration_seconds_bucket{route=\"/v1/classify\",le=\"+Inf\"}"));
        Assert.Contains("# TYPE bertsharp_http_request_duration_seconds histogram", after);
    }

    [Fact]
    public async Task QueueOverTheLimitGets503AndTheServerRecovers()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await model.StartAsync(new ServerOptions { QueueLimit = 4, MaxTextsPerRequest = 4, MaxBatchWait = TimeSpan.Zero },
            configure: app => Queue(app).BeforeBatch = async () => { held.TrySetResult(); await gate.Task; });
        // Two clean-clone CI runs sat in this test for 10 minutes with no thread running. A request sent before the
        // warm-up pass had marked the server ready could take the model in between, and readiness then said
        // "starting", not "saturated" (a 3 s delay there hangs the test every time); the failed assertion left the
        // batch held, and disposing the server waits for its batches. So: wait for ready, and open the gate whatever
        // happens, so that a failure reports itself.
        await server.WaitReadyAsync();
        await using var release = new Release(gate); // disposed before the server
        var first = server.PostJsonAsync("/v1/classify", Json(new { text = "who is it ?" }));
        if (await WithTimeout(Task.WhenAny(held.Task, first)) != held.Task)
        {
            using var early = await first;
            Assert.Fail($"the first request ended before its batch reached the hold: {(int)early.StatusCode} {await early.Content.ReadAsStringAsync()}");
        }
        // The model is busy with the first request.
        var waiting = server.PostJsonAsync("/v1/classify", Json(new { texts = new[] { "a", "b", "c" } }));
        await WaitForMetric(server, "bertsharp_queue_length", 3);
        // A request of the largest size would no longer fit: readiness sends the balancer elsewhere meanwhile.
        using (var ready = await server.Client.GetAsync("/health/ready"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            Assert.Equal("saturated", (await ReadJson(ready)).GetProperty("status").GetString());
        }
        using (var refused = await server.PostJsonAsync("/v1/classify", Json(new { texts = new[] { "d", "e" } })))
        {
            await AssertError(refused, 503, "queue_full", "at capacity", "queue full");
            Assert.Equal("1", refused.Headers.RetryAfter!.ToString());
        }
        using (var fits = await WithTimeout(server.PostJsonAsync("/v1/tokenize", Json(new { text = "tokenizing needs no model" })))) Assert.Equal(HttpStatusCode.OK, fits.StatusCode);
        Queue(server.App).BeforeBatch = null;
        gate.SetResult();
        using (var r = await first) Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        using (var r = await waiting) Assert.Equal(3, (await ReadJson(r)).GetProperty("predictions").GetArrayLength());
        await AssertStillServes(server);
        using (var ready = await server.Client.GetAsync("/health/ready")) Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
    }

    [Fact]
    public async Task StoppingTheServerFinishesTheRequestInFlight()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var server = await model.StartAsync(configure: app => Queue(app).BeforeBatch = async () => { held.TrySetResult(); await gate.Task; });
        await using var release = new Release(gate);
        var texts = model.HeldOut.Select(e => e.Text).ToArray();
        var inFlight = server.PostJsonAsync("/v1/classify", Json(new { texts }));
        await WithTimeout(held.Task); // the batch has started
        var stopping = server.App.StopAsync();
        await Task.Delay(200);
        Assert.False(stopping.IsCompleted, "the server stopped with a request in flight");
        gate.SetResult();
        using var r = await WithTimeout(inFlight);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        var predictions = (await ReadJson(r)).GetProperty("predictions");
        Assert.Equal(texts.Length, predictions.GetArrayLength());
        Assert.True(Enumerable.Range(0, texts.Length).Count(i => predictions[i].GetProperty("label").GetString() == model.HeldOut[i].Label) >= 36);
        await WithTimeout(stopping);
        await Assert.ThrowsAsync<HttpRequestException>(() => server.Client.GetAsync("/health"));
        await server.App.DisposeAsync();
        server.Client.Dispose();
    }

    [Fact]
    public async Task OnnxRuntimeGivesTheManagedProbabilitiesWithin1e4AndRefusesInternals()
    {
        await using var managed = await model.StartAsync();
        await using var onnx = await model.StartAsync(classifier: model.Onnx);
        var texts = model.HeldOut.Select(e => e.Text).ToArray();
        var body = Json(new { texts });
        using var a = await managed.PostJsonAsync("/v1/classify", body);
        using var b = await onnx.PostJsonAsync("/v1/classify", body);
        var pa = (await ReadJson(a)).GetProperty("predictions");
        var pb = (await ReadJson(b)).GetProperty("predictions");
        var labels = model.Managed.Labels;
        double worst = 0;
        for (int i = 0; i < texts.Length; i++)
        {
            var x = Scores(pa[i], labels);
            var y = Scores(pb[i], labels);
            for (int c = 0; c < labels.Count; c++) worst = Math.Max(worst, Math.Abs(x[c] - y[c]));
        }
        Assert.True(worst <= 1e-4, $"largest difference {worst}");

        using (var info = await onnx.Client.GetAsync("/v1/model")) Assert.Equal("onnx", (await ReadJson(info)).GetProperty("runtime").GetString());
        // The warm-up runs the exported graph, so an ONNX-backed server becomes ready (it used to ask for embeddings,
        // which ONNX Runtime cannot give, and stayed 503 "failed").
        await onnx.WaitReadyAsync();
        using (var r = await onnx.PostJsonAsync("/v1/attention", Json(new { text = "who is it ?" }))) await AssertError(r, 422, "unsupported_on_runtime", "--runtime managed", "attention on onnx");
        using (var r = await onnx.PostJsonAsync("/v1/embed", Json(new { text = "who is it ?" }))) await AssertError(r, 422, "unsupported_on_runtime", "logits only", "embed on onnx");
    }

    [Fact]
    public async Task EmbeddingsAreUnitLengthMeansOfTheLastHiddenState()
    {
        await using var server = await model.StartAsync();
        string[] texts = ["what is the tallest mountain ?", "a slow , sad and beautiful film ."];
        using var r = await server.PostJsonAsync("/v1/embed", Json(new { texts }));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        var body = await ReadJson(r);
        int C = body.GetProperty("dimensions").GetInt32();
        Assert.Equal(64, C);
        var bert = model.Managed.Model.Bert;
        for (int i = 0; i < texts.Length; i++)
        {
            var got = body.GetProperty("embeddings")[i].EnumerateArray().Select(v => v.GetSingle()).ToArray();
            // Truth computed here: each text alone (no padding), the average of its token rows, normalised.
            var ids = model.Managed.Tokenizer.Encode(texts[i]).Ids;
            var hidden = bert.Forward(new BertInput(1, ids.Length, ids, new int[ids.Length], Enumerable.Repeat(1, ids.Length).ToArray())).LastHiddenState.Data;
            var mean = new double[C];
            for (int t = 0; t < ids.Length; t++) for (int c = 0; c < C; c++) mean[c] += hidden[t * C + c] / ids.Length;
            double norm = Math.Sqrt(mean.Sum(v => v * v));
            for (int c = 0; c < C; c++) Assert.Equal(mean[c] / norm, got[c], 1e-5);
        }
    }

    [Fact]
    public async Task TokenizeGivesHuggingFaceIdsAndOffsetsIntoTheText()
    {
        await using var server = await model.StartAsync();
        const string text = "Who invented the Tokenization of BERT's WordPiece?";
        using var r = await server.PostJsonAsync("/v1/tokenize", Json(new { text }));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        var e = (await ReadJson(r)).GetProperty("encodings")[0];
        var ids = e.GetProperty("ids").EnumerateArray().Select(v => v.GetInt32()).ToArray();
        using var oracle = new BertSharp.Tests.Text.HfOracle();
        Assert.Equal(oracle.Encode(text), ids);
        var tokens = e.GetProperty("tokens").EnumerateArray().Select(v => v.GetString()!).ToArray();
        var offsets = e.GetProperty("offsets").EnumerateArray().Select(o => (o[0].GetInt32(), o[1].GetInt32())).ToArray();
        Assert.Equal("[CLS]", tokens[0]);
        Assert.Equal("[SEP]", tokens[^1]);
        for (int i = 1; i < tokens.Length - 1; i++)
            Assert.Equal(tokens[i].TrimStart('#'), text[offsets[i].Item1..offsets[i].Item2].ToLowerInvariant());
    }

    [Fact]
    public async Task AttentionGivesEveryLayerAndHeadAsTheModelComputesIt()
    {
        await using var server = await model.StartAsync();
        const string text = "The monkey ate the banana because it was too hungry";
        using var r = await server.PostJsonAsync("/v1/attention", Json(new { text }));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        var body = await ReadJson(r);
        var tokens = body.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!).ToArray();
        Assert.Equal(["[CLS]", "the", "monkey", "ate", "the", "banana", "because", "it", "was", "too", "hungry", "[SEP]"], tokens);
        Assert.Equal(ServedModel.Layers, body.GetProperty("layers").GetInt32());
        Assert.Equal(ServedModel.Heads, body.GetProperty("heads").GetInt32());
        Assert.False(body.GetProperty("truncated").GetBoolean());

        int T = tokens.Length;
        var ids = body.GetProperty("ids").EnumerateArray().Select(v => v.GetInt32()).ToArray();
        var expected = model.Managed.Model.Predict(new BertInput(1, T, ids, new int[T], Enumerable.Repeat(1, T).ToArray()), outputAttentions: true);
        var attentions = body.GetProperty("attentions");
        Assert.Equal(ServedModel.Layers, attentions.GetArrayLength());
        for (int l = 0; l < ServedModel.Layers; l++)
            for (int h = 0; h < ServedModel.Heads; h++)
                for (int from = 0; from < T; from++)
                {
                    var row = attentions[l][h][from].EnumerateArray().Select(v => v.GetSingle()).ToArray();
                    Assert.Equal(T, row.Length);
                    Assert.Equal(1f, row.Sum(), 1e-2); // rounded to 4 decimals
                    for (int to = 0; to < T; to++) Assert.Equal(expected.Attentions![l].Data[((h * T) + from) * T + to], row[to], 1e-4);
                }
        var prediction = body.GetProperty("prediction");
        Assert.Equal(expected.Probabilities.Data[1], prediction.GetProperty("scores").GetProperty("review").GetSingle(), 1e-6);

        using var many = await server.PostJsonAsync("/v1/attention", Json(new { texts = new[] { "a", "b" } }));
        await AssertError(many, 422, "invalid_field", "one text", "attention with texts");
        using var longText = await server.PostJsonAsync("/v1/attention", Json(new { text = string.Join(" ", Enumerable.Repeat("word", 300)) }));
        var cut = await ReadJson(longText);
        Assert.True(cut.GetProperty("truncated").GetBoolean());
        Assert.Equal(Math.Min(model.Managed.MaxLength, new ServerOptions().AttentionMaxTokens), cut.GetProperty("tokens").GetArrayLength());
    }

    [Fact]
    public async Task ModelInfoHealthAndPage()
    {
        await using var server = await model.StartAsync();
        using var r = await server.Client.GetAsync("/v1/model");
        var info = await ReadJson(r);
        Assert.Equal(["question", "review"], info.GetProperty("labels").EnumerateArray().Select(l => l.GetString()));
        Assert.Equal("managed", info.GetProperty("runtime").GetString());
        // Parameter count from the file itself.
        long stored = BertSharp.IO.SafeTensors.Read(Path.Combine(model.Directory, "model.safetensors")).Sum(t => (long)t.Value.Length);
        Assert.Equal(stored, info.GetProperty("parameters").GetInt64());
        Assert.Equal(64, info.GetProperty("config").GetProperty("hidden_size").GetInt32());
        Assert.True(info.GetProperty("memory").GetProperty("working_set_bytes").GetInt64() > stored * 4);

        var health = await ReadJson(await server.Client.GetAsync("/health"));
        Assert.Equal("ok", health.GetProperty("status").GetString());
        using var page = await server.Client.GetAsync("/");
        Assert.Equal("text/html; charset=utf-8", page.Content.Headers.ContentType!.ToString());
        Assert.Contains("<script src=\"app.js\"", await page.Content.ReadAsStringAsync());
        using var script = await server.Client.GetAsync("/app.js");
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
    }

    internal static ModelGate Queue(Microsoft.AspNetCore.Builder.WebApplication app) =>
        (ModelGate)app.Services.GetService(typeof(ModelGate))!;

    private static async Task AssertError(HttpResponseMessage r, int status, string code, string message, string name)
    {
        var text = await r.Content.ReadAsStringAsync();
        Assert.True((int)r.StatusCode == status, $"{name}: status {(int)r.StatusCode}, expected {status}: {text}");
        AssertProblem(r, text, status);
        var error = JsonDocument.Parse(text).RootElement.GetProperty("error");
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.Contains(message, error.GetProperty("message").GetString());
        Assert.DoesNotContain("   at ", text); // never a stack trace
    }

    /// <summary>
    /// RFC 9457: the media type application/problem+json; "status" the response's own code; "title" the
    /// status' reason phrase; "detail" the explanation (the old "error" member's message, for clients that read it).
    /// </summary>
    internal static void AssertProblem(HttpResponseMessage r, string text, int status)
    {
        Assert.Equal("application/problem+json", r.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(text).RootElement;
        Assert.Equal(status, problem.GetProperty("status").GetInt32());
        Assert.Equal(Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status), problem.GetProperty("title").GetString());
        Assert.Equal(problem.GetProperty("error").GetProperty("message").GetString(), problem.GetProperty("detail").GetString());
        if (problem.TryGetProperty("type", out var type)) Assert.True(Uri.TryCreate(type.GetString(), UriKind.RelativeOrAbsolute, out _), $"type {type}");
    }

    private static async Task AssertStillServes(RunningServer server)
    {
        using var r = await server.PostJsonAsync("/v1/classify", Json(new { text = "what is the capital of peru ?" }));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("question", (await ReadJson(r)).GetProperty("predictions")[0].GetProperty("label").GetString());
    }

    private static async Task WaitForMetric(RunningServer server, string name, double value)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (Metric(await server.Client.GetStringAsync("/metrics"), name) != value)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{name} never reached {value}");
            await Task.Delay(10);
        }
    }

    private static async Task<T> WithTimeout<T>(Task<T> task) => await task.WaitAsync(TimeSpan.FromSeconds(60));

    private static async Task WithTimeout(Task task) => await task.WaitAsync(TimeSpan.FromSeconds(60));

    /// <summary>A sample's value from Prometheus text; 0 when the series does not exist yet.</summary>
    internal static double Metric(string text, string series) => PrometheusText.Metric(text, series);
}
