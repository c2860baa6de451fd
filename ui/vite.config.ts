import { defineConfig } from "vite";

export default defineConfig({
  root: __dirname,
  build: { outDir: "dist", emptyOutDir: true, target: "es2021" },
  clearScreen: false,
});
