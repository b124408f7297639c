# bertsharp serve in a container. Build from the repository root:
#   docker build -t bertsharp:1.0.0 .
#   docker run -p 8080:8080 -v "$PWD/out/polarity:/model:ro" bertsharp:1.0.0
# The model is mounted at /model, or baked into a derived image (README: "Serving at scale").

# Build stage: the SDK restores and publishes; nothing of it reaches the final image.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
# Project files first, so the restore layer is reused while only sources change.
COPY Directory.Build.props Directory.Packages.props ./
COPY src/BuiltInModel.targets src/
COPY src/BertSharp/BertSharp.csproj src/BertSharp/
COPY src/BertSharp.Server/BertSharp.Server.csproj src/BertSharp.Server/
COPY src/BertSharp.OnnxRuntime/BertSharp.OnnxRuntime.csproj src/BertSharp.OnnxRuntime/
COPY src/BertSharp.Plots/BertSharp.Plots.csproj src/BertSharp.Plots/
COPY src/BertSharp.Models.MiniLM/BertSharp.Models.MiniLM.csproj src/BertSharp.Models.MiniLM/
COPY src/BertSharp.Models.ArcticXs/BertSharp.Models.ArcticXs.csproj src/BertSharp.Models.ArcticXs/
COPY src/BertSharp.Cli/BertSharp.Cli.csproj src/BertSharp.Cli/
RUN dotnet restore src/BertSharp.Cli/BertSharp.Cli.csproj
COPY src/ src/
RUN dotnet publish src/BertSharp.Cli/BertSharp.Cli.csproj -c Release --no-restore -o /app

# Runtime stage: ASP.NET's runtime image (Debian), run as its unprivileged "app" user.
FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
WORKDIR /app
COPY --from=build /app ./
# 1654 is the "app" user the .NET images create; numeric so Kubernetes' runAsNonRoot can check it.
USER 1654
EXPOSE 8080
ENTRYPOINT ["dotnet", "/app/BertSharp.Cli.dll", "serve"]
CMD ["--model", "/model", "--urls", "http://0.0.0.0:8080", "--drain-delay", "5"]
