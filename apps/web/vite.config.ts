import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The dev server forwards the API to a server started with `pnpm dev` (port 8080). The server
// admits browser origins it knows only, so the proxy presents the target's own origin.
const target = process.env.ANONCHAT_API ?? "http://localhost:8080";

export default defineConfig({
  plugins: [react()],
  server: {
    proxy: {
      "/trpc": {
        target,
        ws: true,
        changeOrigin: true,
        configure(proxy) {
          proxy.on("proxyReq", (req) => req.setHeader("origin", target));
          proxy.on("proxyReqWs", (req) => req.setHeader("origin", target));
        },
      },
      "/api": {
        target,
        ws: true,
        changeOrigin: true,
        configure(proxy) {
          proxy.on("proxyReq", (req) => req.setHeader("origin", target));
          proxy.on("proxyReqWs", (req) => req.setHeader("origin", target));
        },
      },
    },
  },
  build: {
    target: "es2022",
    sourcemap: true,
  },
});
