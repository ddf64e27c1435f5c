import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import react from "@vitejs/plugin-react";
import { defaultClientConditions, defineConfig, type Plugin } from "vite";

/**
 * Writes a .br and a .gz beside every text file of the build over 1 KiB, once, at build time: the
 * server (sirv) sends them to clients that accept them, so no request pays for compression.
 */
function precompress(): Plugin {
  let outDir = "dist";
  return {
    name: "anonchat-precompress",
    apply: "build",
    configResolved(config) {
      outDir = path.resolve(config.root, config.build.outDir);
    },
    closeBundle() {
      const walk = (dir: string): string[] =>
        readdirSync(dir).flatMap((n) => (statSync(path.join(dir, n)).isDirectory() ? walk(path.join(dir, n)) : [path.join(dir, n)]));
      for (const file of walk(outDir)) {
        if (!/\.(js|mjs|css|html|svg|json|txt|webmanifest)$/.test(file)) continue;
        const body = readFileSync(file);
        if (body.length < 1024) continue;
        writeFileSync(`${file}.br`, brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
        writeFileSync(`${file}.gz`, gzipSync(body, { level: 9 }));
      }
    },
  };
}

// The dev server forwards the API to a server started with `pnpm dev` (port 8080). The server
// admits browser origins it knows only (PUBLIC_ORIGIN, by default its own loopback origins), so
// the proxy presents the target's origin: set ANONCHAT_API to one of those.
const target = process.env.ANONCHAT_API ?? "http://localhost:8080";
const targetOrigin = new URL(target).origin;

export default defineConfig({
  plugins: [react(), precompress()],
  // The workspace packages' sources (they export dist/ by default, for node): the client build needs
  // no server build first.
  resolve: { conditions: ["@anonchat/source", ...defaultClientConditions] },
  server: {
    proxy: {
      "/trpc": {
        target,
        ws: true,
        changeOrigin: true,
        configure(proxy) {
          proxy.on("proxyReq", (req) => req.setHeader("origin", targetOrigin));
          proxy.on("proxyReqWs", (req) => req.setHeader("origin", targetOrigin));
        },
      },
      "/api": {
        target,
        ws: true,
        changeOrigin: true,
        configure(proxy) {
          proxy.on("proxyReq", (req) => req.setHeader("origin", targetOrigin));
          proxy.on("proxyReqWs", (req) => req.setHeader("origin", targetOrigin));
        },
      },
    },
  },
  build: {
    target: "es2022",
    // Source maps would publish the client's sources with every deployment; the dev server makes
    // its own, and ANONCHAT_SOURCEMAP=1 builds them for debugging a build.
    sourcemap: process.env.ANONCHAT_SOURCEMAP === "1",
  },
});
