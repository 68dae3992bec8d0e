import { defineConfig } from 'vite';

// Preact's automatic JSX runtime through Vite's own transformer: no Babel, no plugin.
export default defineConfig({
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    target: 'es2022',
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    // One small bundle: the pages share most of their code.
    chunkSizeWarningLimit: 400,
  },
});
