import react from "@vitejs/plugin-react";
import { defaultClientConditions, defineConfig } from "vite";

// The dev server forwards the API to a server started with `pnpm dev` (port 8080). The server
// admits browser origins it knows only (PUBLIC_ORIGIN, by default its own loopback origins), so
// the proxy presents the target's origin: set ANONCHAT_API to one of those.
const target = process.env.ANONCHAT_API ?? "http://localhost:8080";
const targetOrigin = new URL(target).origin;

export default defineConfig({
  plugins: [react()],
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
