using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace BertSharp.Server;

/// <summary>The API key the <see cref="ApiKeyAuthenticationHandler"/> checks, kept as its SHA-256 digest.</summary>
internal sealed class ApiKeyAuthenticationOptions : AuthenticationSchemeOptions
{
    public byte[] KeyDigest { get; set; } = [];
}

/// <summary>
/// The server's authentication scheme: a request carries the key as <c>Authorization: Bearer KEY</c> or
/// <c>X-API-Key: KEY</c>. Digests of equal length are compared in constant time, so neither the key's
/// content nor its length shows in how long a refusal takes. The challenge is a 401 problem naming what
/// was wrong.
/// </summary>
internal sealed class ApiKeyAuthenticationHandler(IOptionsMonitor<ApiKeyAuthenticationOptions> options, ILoggerFactory logger, UrlEncoder encoder)
    : AuthenticationHandler<ApiKeyAuthenticationOptions>(options, logger, encoder)
{
    public const string SchemeName = "BertSharpApiKey";

    /// <summary>The authorization policy on /v1/* (and /metrics unless public): a request authenticated by this scheme.</summary>
    public const string Policy = "BertSharpApiKey";

    private const string Missing = "this server needs an API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'";

    public static byte[] Digest(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? given = null;
        if (Request.Headers.Authorization.ToString() is { Length: > 0 } auth)
        {
            if (!auth.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
                return Task.FromResult(AuthenticateResult.Fail("the Authorization header must be 'Bearer <key>'"));
            given = auth["Bearer ".Length..].Trim();
        }
        else if (Request.Headers.TryGetValue("X-API-Key", out var header))
        {
            given = header.ToString();
        }
        if (given is null) return Task.FromResult(AuthenticateResult.NoResult());
        if (!CryptographicOperations.FixedTimeEquals(Digest(given), Options.KeyDigest))
            return Task.FromResult(AuthenticateResult.Fail("wrong API key"));
        var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, "api-key")], SchemeName);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await HandleAuthenticateOnceSafeAsync();
        await Problems.WriteAsync(Context, StatusCodes.Status401Unauthorized, "unauthorized", result.Failure?.Message ?? Missing);
    }
}
