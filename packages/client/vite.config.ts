import { defineConfig } from 'vite';

// The SDK as one ES module for pages without a bundler (examples/): built from tsc's output, the encryption worker
// emitted beside it as its own file.
export default defineConfig({
  base: './',
  build: {
    outDir: 'dist/browser',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    lib: { entry: 'dist/index.js', formats: ['es'], fileName: () => 'mtcall-client.js' },
  },
  worker: { format: 'es' },
});
