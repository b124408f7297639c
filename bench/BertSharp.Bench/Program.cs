Console.WriteLine("usage: dotnet run -c Release --project bench/BertSharp.Bench -- <benchmark>");
return 2;
