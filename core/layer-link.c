/* core/layer-link.c — the main() of the per-layer link checks (meson.build):
 * each layer's library is linked whole against only the layers below it, so
 * a call up into a higher layer is an undefined symbol and fails the build. */
int main(void)
{
    return 0;
}
