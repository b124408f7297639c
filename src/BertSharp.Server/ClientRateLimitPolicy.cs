using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;

namespace BertSharp.Server;

/// <summary>
/// The rate limiter's policy on /v1/*: a token bucket per client (its remote address) holding
/// <see cref="ServerOptions.RateLimitBurst"/> requests, refilled by <see cref="ServerOptions.RateLimit"/> every
/// <see cref="ServerOptions.RateLimitPeriod"/>; a request that finds it empty is a 429 problem with Retry-After.
/// Behind a proxy every request comes from the proxy's address, so the limit is then the proxy's (configure
/// ASP.NET's forwarded-headers middleware in the hosting app to limit the real clients).
/// </summary>
internal sealed class ClientRateLimitPolicy(ServerOptions options) : IRateLimiterPolicy<string>
{
    public const string Name = "BertSharpPerClient";

    /// <summary>Set on a request the policy was applied to: a /v1 endpoint that finds it missing knows the rate limiter middleware is not in the pipeline.</summary>
    public const string Applied = "BertSharp.RateLimited";

    public Func<OnRejectedContext, CancellationToken, ValueTask>? OnRejected { get; } = (rejected, _) =>
    {
        var wait = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : options.RateLimitPeriod;
        return new ValueTask(Problems.WriteAsync(rejected.HttpContext, StatusCodes.Status429TooManyRequests, "rate_limited",
            $"too many requests from this client: the server takes {options.RateLimit} per {options.RateLimitPeriod.TotalSeconds:0.###} s (bursts of {Burst(options)}); retry after the time in Retry-After",
            wait));
    };

    public RateLimitPartition<string> GetPartition(HttpContext httpContext)
    {
        httpContext.Items[Applied] = true;
        return RateLimitPartition.GetTokenBucketLimiter(httpContext.Connection.RemoteIpAddress?.ToString() ?? "", _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = Burst(options),
            TokensPerPeriod = options.RateLimit,
            ReplenishmentPeriod = options.RateLimitPeriod,
            AutoReplenishment = true,
            QueueLimit = 0,
        });
    }

    private static int Burst(ServerOptions options) => options.RateLimitBurst > 0 ? options.RateLimitBurst : options.RateLimit;
}
