import { defineConfig } from 'vite'
import react from '@vitejs/plugin-react'

// The production build goes straight into the Python package, where
// `envaudio serve` serves it at `/` (same origin as the API).
export default defineConfig({
  plugins: [react()],
  base: '/',
  build: {
    outDir: '../src/envaudio/web',
    emptyOutDir: true,
    chunkSizeWarningLimit: 600,
    // The AudioWorklet module must stay a separate file (not a data: URL), so it is
    // fetched from the server like any other script (and works with a strict CSP).
    assetsInlineLimit: (file) => (file.endsWith('.worklet.js') ? false : undefined),
  },
  server: {
    host: '127.0.0.1',
    port: 5173,
  },
  test: {
    environment: 'node',
    include: ['test/**/*.test.js'],
  },
})
