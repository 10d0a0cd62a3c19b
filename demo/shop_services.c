/* demo/shop_services.c — not written yet */
int main(void)
{
    return 1;
}
