using System.Net;
using System.Text.Json;
using BertSharp.Inference;
using BertSharp.Server;
using BertSharp.Tests.Training;

namespace BertSharp.Tests.Server;

/// <summary>POST /v1/ner over a real loopback socket, on a tiny model trained here.</summary>
public sealed class NerEndpointTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bertsharp-ner-server-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task AnswersEntitiesWithOffsetsAndRejectsBadInputWith422()
    {
        TokenClassificationTests.TrainToyModel(_dir);
        using var pipeline = TokenClassificationPipeline.Load(_dir);
        var app = BertServer.Build(pipeline, new ServerOptions { Urls = "http://127.0.0.1:0", ModelName = "ner" });
        await app.StartAsync();
        await using var server = new RunningServer(app);

        string text = "Clara went to Oslo today";
        using (var r = await server.PostJsonAsync("/v1/ner", JsonSerializer.Serialize(new { text, aggregation_strategy = "first" })))
        {
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            var entities = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.GetProperty("predictions")[0].GetProperty("entities");
            var found = entities.EnumerateArray().Select(e => (e.GetProperty("entity_group").GetString(), e.GetProperty("word").GetString(),
                e.GetProperty("start").GetInt32(), e.GetProperty("end").GetInt32())).ToList();
            Assert.Equal([("PER", "Clara", 0, 5), ("LOC", "Oslo", 14, 18)], found);
        }
        using (var r = await server.PostJsonAsync("/v1/ner", JsonSerializer.Serialize(new { texts = new[] { text, "Boris went to Rome today" }, aggregation_strategy = "none" })))
        {
            var predictions = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.GetProperty("predictions");
            Assert.Equal(2, predictions.GetArrayLength());
            Assert.All(predictions[1].GetProperty("entities").EnumerateArray(), e => Assert.True(e.TryGetProperty("index", out _)));
        }
        using (var r = await server.Client.GetAsync("/v1/model"))
            Assert.Contains("B-PER", await r.Content.ReadAsStringAsync());

        foreach (var (body, code, message) in new[]
        {
            ("{\"text\": \"\"}", "empty_text", "\"text\" is empty"),
            ("{\"text\": 5}", "invalid_field", "\"text\" must be a string"),
            ("{\"text\": \"a\", \"aggregation_strategy\": \"longest\"}", "invalid_field", "\"aggregation_strategy\" must be one of"),
            ("{\"text\": \"a\", \"aggregation_strategy\": 1}", "invalid_field", "\"aggregation_strategy\" must be one of"),
            ("{\"text\": \"a\", \"text_pair\": \"b\"}", "invalid_field", "single texts"),
        })
        {
            using var r = await server.PostJsonAsync("/v1/ner", body);
            Assert.Equal((HttpStatusCode)422, r.StatusCode);
            var error = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
            Assert.Equal(code, error.GetProperty("code").GetString());
            Assert.Contains(message, error.GetProperty("message").GetString(), StringComparison.Ordinal);
        }
        using (var r = await server.PostJsonAsync("/v1/ner", "{not json"))
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
    }
}
