using System.Net;
using System.Text;
using System.Text.Json;
using BertSharp.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;

namespace BertSharp.Tests.Server;

/// <summary>
/// The server as a library: a minimal ASP.NET app of its own (the README's sample) with BertSharp mapped under a
/// prefix beside its own endpoint; and the rate limiter that <c>serve --rate-limit</c> turns on.
/// </summary>
[Collection(ServedModel.Collection)]
public sealed class HostedServerTests(ServedModel model)
{
    private static StringContent Json(object value) => new(JsonSerializer.Serialize(value), Encoding.UTF8, "application/json");

    [Fact]
    public async Task AMinimalAppServesItsOwnEndpointAndBertSharpUnderAPrefix()
    {
        // The README's sample, with a free port and the test's model.
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddBertSharp(o =>
        {
            o.Model = model.Directory;
            o.ModelName = "questions";
            o.ApiKey = "app-key";
            o.RateLimit = 20;
        });
        await using var app = builder.Build();
        app.UseRouting();
        app.UseRateLimiter();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapGet("/", () => "my app");
        app.MapBertSharp("/bert");
        await app.StartAsync();
        using var client = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };

        Assert.Equal("my app", await client.GetStringAsync("/"));
        using (var r = await client.PostAsync("/bert/v1/classify", Json(new { text = "who wrote hamlet ?" })))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
            ServerApiTests.AssertProblem(r, await r.Content.ReadAsStringAsync(), 401);
        }
        client.DefaultRequestHeaders.Add("X-API-Key", "app-key");
        using (var r = await client.PostAsync("/bert/v1/classify", Json(new { texts = new[] { "who wrote hamlet ?", "a charming , funny film ." } })))
        {
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            var predictions = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.GetProperty("predictions");
            Assert.Equal(["question", "review"], predictions.EnumerateArray().Select(p => p.GetProperty("label").GetString()));
        }
        using (var r = await client.PostAsync("/bert/v1/tokenize", Json(new { text = "hello" }))) Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        using (var r = await client.GetAsync("/bert/v1/nothing"))
        {
            Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
            ServerApiTests.AssertProblem(r, await r.Content.ReadAsStringAsync(), 404);
        }
        // The app's own paths keep the app's own answers.
        using (var r = await client.GetAsync("/nothing"))
        {
            Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
            Assert.Equal(0, r.Content.Headers.ContentLength);
        }

        await Poll.UntilAsync(async () =>
        {
            using var ready = await client.GetAsync("/bert/health/ready");
            return ready.StatusCode == HttpStatusCode.OK;
        }, "ready");
        var metrics = await client.GetStringAsync("/bert/metrics");
        Assert.Equal(1, PrometheusText.Metric(metrics, "bertsharp_http_requests_total{route=\"/bert/v1/classify\",method=\"POST\",status=\"200\"}"));
        Assert.Equal(1, PrometheusText.Metric(metrics, "bertsharp_http_requests_total{route=\"/bert/v1/classify\",method=\"POST\",status=\"401\"}"));
        Assert.Equal(2, PrometheusText.Metric(metrics, "bertsharp_texts_classified_total"));

        // The page sits under the prefix too, and its links are relative to it.
        using var noRedirect = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = client.BaseAddress };
        using (var r = await noRedirect.GetAsync("/bert"))
        {
            Assert.Equal(HttpStatusCode.PermanentRedirect, r.StatusCode);
            Assert.Equal("/bert/", r.Headers.Location!.OriginalString);
        }
        Assert.Contains("<script src=\"app.js\"", await client.GetStringAsync("/bert/"));
        await app.StopAsync();
    }

    [Fact]
    public async Task ARateLimitedClientGets429ProblemsWithRetryAfterOnceItsBucketIsEmpty()
    {
        // Three requests per minute: the fourth within the minute finds the bucket empty.
        await using var server = await model.StartAsync(new ServerOptions { RateLimit = 3, RateLimitPeriod = TimeSpan.FromMinutes(1) });
        for (int i = 0; i < 3; i++)
        {
            using var ok = await server.PostJsonAsync("/v1/tokenize", JsonSerializer.Serialize(new { text = $"request {i}" }));
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }
        using (var refused = await server.PostJsonAsync("/v1/classify", JsonSerializer.Serialize(new { text = "one too many" })))
        {
            var text = await refused.Content.ReadAsStringAsync();
            Assert.Equal((HttpStatusCode)429, refused.StatusCode);
            ServerApiTests.AssertProblem(refused, text, 429);
            Assert.Equal("rate_limited", JsonDocument.Parse(text).RootElement.GetProperty("error").GetProperty("code").GetString());
            var wait = refused.Headers.RetryAfter!.Delta!.Value;
            Assert.InRange(wait.TotalSeconds, 1, 60);
        }
        // Only /v1 is limited: probes, the page and the scraper are not.
        using (var r = await server.Client.GetAsync("/health/live")) Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        using (var r = await server.Client.GetAsync("/")) Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        var metrics = await server.Client.GetStringAsync("/metrics");
        Assert.Equal(1, PrometheusText.Metric(metrics, "bertsharp_errors_total{code=\"rate_limited\"}"));
        Assert.Equal(1, PrometheusText.Metric(metrics, "bertsharp_http_requests_total{route=\"/v1/classify\",status=\"429\"}"));
        Assert.Equal(0, PrometheusText.Metric(metrics, "bertsharp_texts_classified_total"));
    }

    [Fact]
    public async Task WrongKeysCountAgainstTheRateLimit()
    {
        // With the limiter after authentication, 30 wrong keys were 30 401s: keys could be tried at full speed.
        await using var server = await model.StartAsync(new ServerOptions { ApiKey = "right-key", RateLimit = 3, RateLimitPeriod = TimeSpan.FromMinutes(1) });
        for (int i = 0; i < 3; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/tokenize") { Content = new StringContent("{\"text\": \"a\"}", Encoding.UTF8, "application/json") };
            request.Headers.TryAddWithoutValidation("X-API-Key", $"guess-{i}");
            using var r = await server.Client.SendAsync(request);
            Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        }
        using var right = new HttpRequestMessage(HttpMethod.Post, "/v1/tokenize") { Content = new StringContent("{\"text\": \"a\"}", Encoding.UTF8, "application/json") };
        right.Headers.TryAddWithoutValidation("X-API-Key", "right-key");
        using var refused = await server.Client.SendAsync(right);
        Assert.Equal((HttpStatusCode)429, refused.StatusCode);
        Assert.Equal("rate_limited", JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task ARateLimitWithoutTheRateLimiterMiddlewareIsAnErrorNotASilentlyUnlimitedServer()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.SetMinimumLevel(LogLevel.None);
        builder.Services.AddBertSharp(o => { o.Pipeline = model.Managed; o.RateLimit = 5; });
        await using var app = builder.Build();
        app.MapBertSharp(); // no app.UseRateLimiter()
        await app.StartAsync();
        using var client = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };
        using var r = await client.PostAsync("/v1/tokenize", Json(new { text = "hello" }));
        Assert.Equal(HttpStatusCode.InternalServerError, r.StatusCode);
        ServerApiTests.AssertProblem(r, await r.Content.ReadAsStringAsync(), 500);
        await app.StopAsync();
    }

    [Fact]
    public void AnAppWithoutAModelIsRefusedAtRegistration()
    {
        var e = Assert.Throws<ArgumentException>(() => WebApplication.CreateSlimBuilder().Services.AddBertSharp(o => o.ModelName = "nothing"));
        Assert.Contains("no model to serve", e.Message);
        Assert.Throws<ArgumentException>(() => WebApplication.CreateSlimBuilder().Services.AddBertSharp(o => { o.Pipeline = model.Managed; o.RateLimit = -1; }));
    }
}
